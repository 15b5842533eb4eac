"""The insightface backend's real code path (FaceAnalysis routing, SCRFD decoding, ArcFace
embedding, norm_crop) on a locally built pack with buffalo's signatures."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from emodata.faces.insightface_backend import InsightFaceBackend, InsightFaceConfig
from emodata.stages.faces import FacesStage

from .tiny_pack import build


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build(tmp_path_factory.mktemp("pack") / "buffalo_tiny")


def test_router_picks_models_by_signature(pack):
    b = InsightFaceBackend(str(pack), det_size=320)
    b.load()
    assert set(b.app.models) == {"detection", "recognition"}
    assert b.providers[-1] == "CPUExecutionProvider"


def test_detections_flow_through_the_stage(pack):
    frame = np.zeros((320, 320, 3), np.uint8)
    frame[96:224, 96:224] = 255  # the made-up detector fires on bright areas
    b = InsightFaceBackend(str(pack), det_size=320)
    b.load()
    faces = b.detect(frame)
    assert faces and all(f.kps.shape == (5, 2) and f.embedding.shape == (512,) for f in faces)
    assert all(abs(np.linalg.norm(f.embedding) - 1) < 1e-3 for f in faces)
    assert b.identity(faces[0], faces[0]) == pytest.approx(1.0, abs=1e-5)
    stage = FacesStage(InsightFaceConfig(model_pack=str(pack), det_size=320))
    out, crops = stage.analyse([frame, frame.copy()], 1.0)
    assert out.backend == "insightface" and out.tracks
    assert all(len(t.frames) == 2 for t in out.tracks)  # same faces -> linked
    assert crops


def test_no_bright_area_no_faces(pack):
    b = InsightFaceBackend(str(pack), det_size=320)
    b.load()
    assert b.detect(np.zeros((240, 320, 3), np.uint8)) == []
    assert isinstance(b.detect(data.astronaut()), list)


def test_missing_pack_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model pack"):
        InsightFaceBackend(str(tmp_path)).load()
