"""Offline backend: dlib's HOG detector, its 68-point predictor (reduced to the standard 5
points) and its ResNet embedding, with weights from the model registry.

The default face backend (``faces.backend: dlib``), registered at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from emodata.backends import BackendSpec
from emodata.config import FACE_BACKENDS, FacesConfig
from emodata.faces.base import Face
from emodata.stages.registry import Requirement


def require_faces():
    try:
        import dlib
        import insightface  # noqa: F401 - alignment
    except ImportError:
        raise ImportError(
            "the faces stage needs the faces extra: pip install 'emodata[faces]'"
        ) from None
    return dlib


def five_from_68(pts: np.ndarray) -> np.ndarray:
    """Eye centres (mean of each eye's 6 points), nose tip (30), mouth corners (48, 54)."""
    return np.array(
        [pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]], dtype=np.float32
    )


@dataclass
class DlibBackend:
    upsample: int = 1
    min_score: float = 0.3
    embed: bool = True
    name: str = "dlib"
    embedding_model: ClassVar[str | None] = "dlib-resnet-128"
    unit_embeddings: ClassVar[bool] = False

    def load(self) -> None:
        from emodata.models import resolve

        dlib = require_faces()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        lm = resolve("dlib-landmarks-68") / "shape_predictor_68_face_landmarks.dat"
        self.predictor = dlib.shape_predictor(str(lm))
        self.encoder = None
        if self.embed:
            enc = resolve("dlib-face-embedding") / "dlib_face_recognition_resnet_model_v1.dat"
            self.encoder = dlib.face_recognition_model_v1(str(enc))

    @staticmethod
    def identity(a: Face, b: Face) -> float | None:
        """dlib embeddings: the same person is within about 0.6 euclidean distance."""
        if a.embedding is None or b.embedding is None:
            return None
        return float(max(0.0, 1 - np.linalg.norm(a.embedding - b.embedding) / 1.2))

    def detect(self, rgb: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(rgb)
        rects, scores, _ = self.detector.run(rgb, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            if score < self.min_score:
                continue
            shape = self.predictor(rgb, rect)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            emb = None
            if self.encoder is not None:
                emb = np.array(self.encoder.compute_face_descriptor(rgb, shape), np.float32)
            h, w = rgb.shape[:2]
            box = [
                max(0, rect.left()),
                max(0, rect.top()),
                min(w, rect.right()),
                min(h, rect.bottom()),
            ]
            faces.append(
                Face(
                    [float(v) for v in box],
                    float(score),
                    five_from_68(pts),
                    emb,
                    {"landmarks68": pts.round(1).tolist()},
                )
            )
        return sorted(faces, key=lambda f: -f.score)


class DlibConfig(FacesConfig):
    backend: Literal["dlib"] = "dlib"
    upsample: int = Field(1, ge=0, le=3, description="Image upsampling for small faces.")


#: the registry's weights the backend loads
MODELS = ("dlib-landmarks-68", "dlib-face-embedding")


def _check_models(c: DlibConfig) -> None:
    from emodata.errors import ConfigError
    from emodata.models import ModelError, resolve

    for name in MODELS:
        try:
            resolve(name)
        except ModelError as e:
            raise ConfigError(f"faces: {e}") from None


FACE_BACKENDS.register(
    BackendSpec(
        "dlib",
        DlibConfig,
        lambda c: DlibBackend(upsample=c.upsample, min_score=c.min_score),
        requires=(Requirement("dlib", "faces"),),
        preflight=_check_models,
    )
)
