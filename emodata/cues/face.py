"""Per-track face cues: FER2013 expression scores and landmark geometry over time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CUES = {
    "expression": "FER2013 classifier (fer package's model) softmax per frame over "
    + ", ".join(LABELS)
    + "; the track's mean and its top label",
    "mouth_open": "inner-lip gap (68-point 62-66) / inter-ocular distance, per frame",
    "eye_open": "eye aspect ratio (Soukupova & Cech 2016), mean of both eyes, per frame",
    "brow_raise": "mean brow-to-eye-centre height (points 17-26 vs eye centres) / "
    "inter-ocular distance, per frame",
}


def _ear(eye: np.ndarray) -> float:
    a = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(a / (2 * max(np.linalg.norm(eye[0] - eye[3]), 1e-6)))


def geometry(pts68: np.ndarray) -> dict[str, float]:
    p = np.asarray(pts68, dtype=np.float64)
    le, re = p[36:42].mean(0), p[42:48].mean(0)
    iod = max(np.linalg.norm(re - le), 1e-6)
    brows = np.concatenate([p[17:22, 1] - le[1], p[22:27, 1] - re[1]])
    return {
        "mouth_open": round(float(np.linalg.norm(p[62] - p[66]) / iod), 4),
        "eye_open": round((_ear(p[36:42]) + _ear(p[42:48])) / 2, 4),
        "brow_raise": round(float(-brows.mean() / iod), 4),
    }


def crop_for_expression(grey: np.ndarray, box: list[float], offset: int = 10) -> np.ndarray:
    """The fer package's preprocessing: square box, 10 px margin, 64x64, scaled to [-1, 1]."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if h > w:
        x1, w = x1 - (h - w) / 2, h
    elif w > h:
        y1, h = y1 - (w - h) / 2, w
    x1, y1 = int(max(0, x1 - offset)), int(max(0, y1 - offset))
    x2, y2 = int(x1 + w + 2 * offset), int(y1 + h + 2 * offset)
    face = grey[y1:y2, x1:x2]
    if face.size == 0:
        raise ValueError("empty face crop")
    face = cv2.resize(face, (64, 64)).astype(np.float32) / 255.0
    return (face - 0.5) * 2.0


@dataclass
class ExpressionModel:
    """FER2013 7-class classifier (TFLite), from the model registry."""

    model_name: str = "fer2013-expression"

    def load(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from emodata.models import resolve

        path = resolve(self.model_name) / "emotion_model_quantized.tflite"
        self.interp = Interpreter(model_path=str(path))
        self.interp.allocate_tensors()
        self._in = self.interp.get_input_details()[0]["index"]
        self._out = self.interp.get_output_details()[0]["index"]

    def scores(self, face64: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self._in, face64[None, :, :, None].astype(np.float32))
        self.interp.invoke()
        p = np.asarray(self.interp.get_tensor(self._out)[0], dtype=np.float64)
        if p.min() < 0 or abs(p.sum() - 1) > 1e-3:  # logits: make them a distribution
            p = np.exp(p - p.max())
            p /= p.sum()
        return p
