"""insightface's FaceAnalysis (SCRFD detection with 5 landmarks, ArcFace embeddings): the
production backend. Reads a model pack directory (``buffalo_l`` and the like: insightface's
router picks each ONNX file by its signature); onnxruntime's CUDA provider is used when present.
Chosen with ``faces.backend: insightface`` and ``faces.model_pack``, registered at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from emodata.backends import BackendSpec
from emodata.config import FACE_BACKENDS, FacesConfig
from emodata.errors import ConfigError
from emodata.faces.base import Face
from emodata.stages.registry import Requirement


@dataclass
class InsightFaceBackend:
    pack_dir: str
    det_size: int = 640
    min_score: float = 0.5
    name: str = "insightface"
    embedding_model: ClassVar[str | None] = "arcface-512"
    unit_embeddings: ClassVar[bool] = True

    def load(self) -> None:
        import onnxruntime
        from insightface.app import FaceAnalysis

        pack = Path(self.pack_dir).expanduser()
        if not any(pack.glob("*.onnx")):
            raise FileNotFoundError(
                f"faces.model_pack: no ONNX files in {pack}; put an insightface model pack "
                "(for example buffalo_l) there"
            )
        available = onnxruntime.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.app = FaceAnalysis(
            name=str(pack), allowed_modules=["detection", "recognition"], providers=providers
        )
        self.app.prepare(
            ctx_id=0 if providers[0].startswith("CUDA") else -1,
            det_size=(self.det_size, self.det_size),
            det_thresh=self.min_score,
        )
        self.providers = providers

    def detect(self, rgb: np.ndarray) -> list[Face]:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        out = []
        for f in self.app.get(bgr):
            emb = getattr(f, "normed_embedding", None)
            out.append(
                Face(
                    [float(v) for v in f.bbox],
                    float(f.det_score),
                    np.asarray(f.kps, np.float32),
                    None if emb is None else np.asarray(emb, np.float32),
                )
            )
        return sorted(out, key=lambda f: -f.score)

    @staticmethod
    def identity(a: Face, b: Face) -> float | None:
        """Cosine similarity of normalised ArcFace embeddings, clipped to [0, 1]."""
        if a.embedding is None or b.embedding is None:
            return None
        return float(max(0.0, float(np.dot(a.embedding, b.embedding))))


class InsightFaceConfig(FacesConfig):
    backend: Literal["insightface"] = "insightface"
    model_pack: str | None = Field(None, description="Model pack directory (buffalo_l...).")
    det_size: int = Field(640, ge=64, description="Detector input size.")


def _check_pack(c: InsightFaceConfig) -> None:
    if not c.model_pack:
        raise ConfigError("faces.model_pack must name an insightface model pack directory")


def _build(c: InsightFaceConfig) -> InsightFaceBackend:
    _check_pack(c)
    return InsightFaceBackend(str(c.model_pack), c.det_size, c.min_score)


FACE_BACKENDS.register(
    BackendSpec(
        "insightface",
        InsightFaceConfig,
        _build,
        requires=(Requirement("insightface", "faces"), Requirement("onnxruntime", "faces")),
        preflight=_check_pack,
    )
)
