"""Faces on real photos: insightface's t1.jpg (6 faces), scikit-image's astronaut (1 face),
insightface's Tom Hanks; detection counts, landmark positions checked by eye, ArcFace alignment,
tracks over moving and multiple faces, and frames with no usable face."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from emodata.config import FacesConfig
from emodata.faces.base import ARCFACE_5, aligned_kps, pose
from emodata.faces.dlib_backend import DlibBackend
from emodata.projection import index_fields
from emodata.records import ClipRecord, ClipSpan, Item
from emodata.stages.faces import FacesStage, encode_jpeg

IMAGES = Path(next(iter(importlib.util.find_spec("insightface").submodule_search_locations)))
IMAGES = IMAGES / "data" / "images"
# The astronaut's 5 points, read off the image at 4x zoom: pupils, nose tip, mouth corners.
ASTRONAUT_5 = np.array([[203, 101], [246, 104], [225, 127], [201, 139], [246, 141]], float)


def _rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(IMAGES / name)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def backend():
    b = DlibBackend()
    b.load()
    return b


@pytest.fixture(scope="module")
def stage():
    s = FacesStage(FacesConfig())
    s.setup()
    return s


def test_t1_has_six_faces(backend):
    faces = backend.detect(_rgb("t1.jpg"))
    assert len(faces) == 6
    assert all(f.size > 40 and f.embedding.shape == (128,) for f in faces)


def test_astronaut_landmarks_and_alignment(backend):
    (face,) = backend.detect(data.astronaut())
    assert np.abs(face.kps - ASTRONAUT_5).max() <= 4.0
    # the aligned crop puts eyes, nose and mouth where ArcFace expects them
    placed = aligned_kps(face.kps)
    assert np.abs(placed[:2] - ARCFACE_5[:2]).max() <= 4.0  # her smile widens the mouth
    assert np.abs(placed - ARCFACE_5).max() <= 6.0
    p = pose(face.kps)
    assert abs(p.yaw) < 15 and abs(p.roll) < 10


def _pan(image: np.ndarray, n: int, step: int, size: tuple[int, int]) -> list[np.ndarray]:
    h, w = size
    return [
        image[10 + i * step // 2 : 10 + i * step // 2 + h, i * step : i * step + w].copy()
        for i in range(n)
    ]


def test_a_moving_face_is_one_track(stage):
    frames = _pan(data.astronaut(), 8, 12, (300, 380))
    faces, crops = stage.analyse(frames, 1.0)
    assert len(faces.tracks) == 1
    track = faces.tracks[0]
    assert track.quality.presence == 1.0 and faces.main_track == track.id
    xs = [f.box[0] for f in track.frames]
    assert xs[0] - xs[-1] > 60  # the face really moved across the frame
    assert len(crops) == 3 and all(
        cv2.imdecode(np.frombuffer(c, np.uint8), 1).shape == (112, 112, 3) for c in crops.values()
    )


def test_two_faces_are_two_tracks_and_the_larger_is_main(stage):
    astro = cv2.resize(data.astronaut(), (256, 256))
    hanks = cv2.resize(_rgb("Tom_Hanks_54745.png"), (256, 256))  # a 112 px aligned photo
    frame = np.hstack([astro, hanks])
    faces, _ = stage.analyse([frame, frame.copy(), frame.copy()], 1.0)
    assert len(faces.tracks) == 2
    sizes = {t.id: t.quality.size_px for t in faces.tracks}
    assert faces.main_track == max(sizes, key=sizes.get)


def test_no_face_is_an_empty_result(stage):
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    faces, crops = stage.analyse([noise, np.zeros_like(noise)], 1.0)
    assert faces.tracks == [] and faces.main_track is None and crops == {}


def test_tiny_profile_and_dark_faces_do_not_fail(stage):
    astro = data.astronaut()
    tiny = cv2.resize(astro, (48, 48))
    turned = np.ascontiguousarray(np.rot90(astro))  # eyes vertical: not a frontal face
    dark = (astro.astype(np.float32) * 0.04).astype(np.uint8)
    for frames in ([tiny], [turned], [dark]):
        faces, _ = stage.analyse(frames, 1.0)
        assert faces.frames == 1 and len(faces.faces_per_frame) == 1
        for t in faces.tracks:
            assert 0 < t.quality.presence <= 1


def test_stage_writes_crops_and_index_fields(stage):
    frames = _pan(data.astronaut(), 4, 10, (300, 380))
    blobs = {f"frame{i:03d}.jpg": encode_jpeg(f) for i, f in enumerate(frames)}
    (item,) = stage.process([Item("k", ClipRecord(clip=ClipSpan(frame_rate=2.0)), blobs)])
    row, faces = index_fields(item.record), item.record.faces
    assert item.ok and row["face_tracks"] == 1 and row["face_max_per_frame"] == 1
    assert row["main_face_presence"] == 1.0 and row["main_face_size_px"] > 50
    assert item.record.outcome.stage_status["faces"] == "ok"
    assert sorted(k for k in item.blobs if k.startswith("face")) == faces.tracks[0].crops
    assert [f.t for f in faces.tracks[0].frames] == [0.0, 0.5, 1.0, 1.5]
    # the track's mean dlib embedding, for identities across the run (export --split)
    assert faces.embedding_model == "dlib-resnet-128"
    assert len(faces.tracks[0].embedding) == 128


def test_the_speaking_face_is_preferred_as_main_subject():
    from emodata.faces.base import Face
    from emodata.faces.track import Track, main_subject, mouth_activity

    def face(size: float, gap: float) -> Face:
        pts = np.zeros((68, 2))
        pts[36:42], pts[42:48] = [0, 0], [10, 0]
        pts[62], pts[66] = [5, 10], [5, 10 + gap]
        return Face([0, 0, size, size], 1.0, np.zeros((5, 2)), None, {"landmarks68": pts})

    big_still = Track(0, [0, 1, 2, 3], [face(100, 1) for _ in range(4)])
    small_talking = Track(1, [0, 1, 2, 3], [face(70, g) for g in (0, 6, 1, 7)])
    times = [0.0, 1.0, 2.0, 3.0]
    talking = {t.id: mouth_activity(t, times, [(0.0, 3.5)]) for t in (big_still, small_talking)}
    assert talking[0] == 0.0 < talking[1]
    assert main_subject([big_still, small_talking], 4) == 0  # without speech: the bigger face
    assert main_subject([big_still, small_talking], 4, talking) == 1  # the speaker wins
    assert mouth_activity(small_talking, times, [(10.0, 12.0)]) == 0.0  # no speech there
