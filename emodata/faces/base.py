"""Detections, the backend interface, 5-point alignment and per-face quality measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from emodata.faces.record import Pose

# ArcFace's 112x112 template (insightface ``face_align.arcface_dst``): eyes, nose, mouth corners.
ARCFACE_5 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


@dataclass
class Face:
    box: list[float]  # x1, y1, x2, y2 in pixels
    score: float
    kps: np.ndarray  # 5 x 2: image-left eye, image-right eye, nose tip, mouth left, mouth right
    embedding: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class FaceBackend(Protocol):
    name: str
    #: the embedding its faces carry, recorded per clip (``faces.embedding_model``) so that
    #: tracks are only compared with tracks of the same model; None when it computes none
    embedding_model: str | None
    #: its embeddings are unit vectors: a track's mean embedding is normalised again
    unit_embeddings: bool

    def load(self) -> None: ...

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in one RGB frame, with 5 landmarks and (when available) an embedding."""

    def identity(self, a: Face, b: Face) -> float | None:
        """How likely two faces are the same person, 0 to 1 (None without embeddings)."""


def align(rgb: np.ndarray, kps: np.ndarray, size: int = 112) -> np.ndarray:
    """ArcFace-style aligned crop: insightface's ``norm_crop`` (similarity transform)."""
    from insightface.utils import face_align

    return face_align.norm_crop(rgb, np.asarray(kps, dtype=np.float32), image_size=size)


def aligned_kps(kps: np.ndarray, size: int = 112) -> np.ndarray:
    """Where the 5 points land in the aligned crop (same transform as :func:`align`)."""
    from insightface.utils import face_align

    m = face_align.estimate_norm(np.asarray(kps, dtype=np.float32), size)
    pts = np.hstack([np.asarray(kps, np.float32), np.ones((5, 1), np.float32)])
    return pts @ m.T


def sharpness(crop_rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey aligned crop: higher is sharper."""
    import cv2

    grey = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(kps: np.ndarray) -> Pose:
    """Rough head pose in degrees from the 5 points (no 3-D model): roll from the eye line,
    yaw from the nose's offset between the eyes, pitch from the nose's height between eyes
    and mouth (0 for a frontal face)."""
    le, re, nose, lm, rm = np.asarray(kps, dtype=np.float64)
    eye_mid, mouth_mid = (le + re) / 2, (lm + rm) / 2
    eye_dist = max(np.linalg.norm(re - le), 1e-6)
    roll = np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0]))
    yaw = np.degrees(np.arcsin(np.clip(2 * (nose[0] - eye_mid[0]) / eye_dist, -1, 1)))
    span = max(mouth_mid[1] - eye_mid[1], 1e-6)
    pitch = np.degrees(np.arcsin(np.clip(2 * ((nose[1] - eye_mid[1]) / span - 0.5), -1, 1)))
    return Pose(yaw=round(float(yaw), 1), pitch=round(float(pitch), 1), roll=round(float(roll), 1))
