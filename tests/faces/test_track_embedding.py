"""Per-track mean embeddings and the embedding model, with a scripted backend (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from emodata.config import FacesConfig
from emodata.faces.base import ARCFACE_5, Face
from emodata.stages.faces import FacesStage, track_embedding


class Scripted:
    """One face per frame at the same place, with the embeddings given in order."""

    def __init__(self, model: str, normed: bool, embeddings: list[np.ndarray]) -> None:
        self.name = "scripted"
        self.embedding_model = model
        self.unit_embeddings = normed
        self.embeddings = list(embeddings)

    def load(self) -> None: ...

    def detect(self, rgb: np.ndarray) -> list[Face]:
        kps = ARCFACE_5 * 2 + 20  # a 224 px face at (20, 20)
        return [Face([20.0, 20.0, 244.0, 244.0], 0.99, kps.copy(), self.embeddings.pop(0))]

    @staticmethod
    def identity(a: Face, b: Face) -> float | None:
        return 1.0


@pytest.mark.parametrize(
    "backend, model, normed",
    [("dlib", "dlib-resnet-128", False), ("insightface", "arcface-512", True)],
)
def test_tracks_carry_the_mean_embedding_of_their_faces(backend, model, normed):
    rng = np.random.default_rng(0)
    dim = 128 if backend == "dlib" else 512
    embs = [rng.normal(0, 0.1, dim) for _ in range(3)]
    if normed:
        embs = [e / np.linalg.norm(e) for e in embs]
    stage = FacesStage(FacesConfig())
    stage.backend = Scripted(model, normed, embs)
    frames = [np.full((300, 300, 3), 128, np.uint8) for _ in range(3)]
    faces, _ = stage.analyse(frames, 1.0)
    assert faces.embedding_model == model
    (track,) = faces.tracks
    want = np.mean(embs, axis=0)
    if normed:
        want /= np.linalg.norm(want)
        assert abs(np.linalg.norm(track.embedding) - 1) < 1e-3
    assert len(track.embedding) == dim
    assert np.abs(np.array(track.embedding) - want).max() <= 5e-5  # 4 decimals


def test_no_embedding_no_mean():
    face = Face([0, 0, 10, 10], 1.0, np.zeros((5, 2)))
    assert track_embedding([face], normed=False) is None
    face.embedding = np.array([0.123456, -1.0])
    assert track_embedding([face, Face([0, 0, 1, 1], 1.0, np.zeros((5, 2)))], False) == [
        0.1235,
        -1.0,
    ]
