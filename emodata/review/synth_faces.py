"""Synthetic faces for :mod:`emodata.review.synth`: one track per clip with expression scores
peaking on the clip's label, and (optionally) embeddings of a fixed set of people."""

from __future__ import annotations

import hashlib
import random

import numpy as np

from emodata.cues.face import LABELS
from emodata.cues.record import Cues, FramePoint, TrackCues


class People:
    """Face embeddings of ``n`` people: a centre per person plus a little noise per track.

    dlib-like 128-d vectors are about 1.6 apart between people and 0.2 within one (threshold
    0.6); ArcFace-like 512-d vectors are unit length, cosine about 0 between people and 0.97
    within one (threshold 0.4). A source films one person, drawn from its index, so one person
    appears in several sources.
    """

    def __init__(self, n: int, model: str, seed: int) -> None:
        self.n, self.model, self.seed = n, model, seed
        gen = np.random.default_rng(seed + 7919)
        dim = 512 if model == "arcface-512" else 128
        scale = 1.0 if model == "arcface-512" else 0.1
        self.centres = gen.normal(0.0, scale, (n, dim))
        if model == "arcface-512":
            self.centres /= np.linalg.norm(self.centres, axis=1, keepdims=True)

    def person_of_source(self, src: int) -> int:
        return int(hashlib.sha256(f"{self.seed}:{src}".encode()).hexdigest()[:8], 16) % self.n

    def embedding(self, person: int, sample: int) -> list[float]:
        gen = np.random.default_rng([self.seed, sample])
        noise = 0.012 if self.model == "dlib-resnet-128" else 0.01
        v = self.centres[person] + gen.normal(0.0, noise, self.centres.shape[1])
        if self.model == "arcface-512":
            v /= np.linalg.norm(v)
        return [round(float(x), 4) for x in v]


def faces_and_cues(rng: random.Random, label: str, seconds: float) -> tuple[dict, Cues]:
    frames = max(2, int(seconds * 4))
    series = []
    for f in range(frames):
        scores = np.array([rng.random() * 0.3 for _ in LABELS])
        scores[LABELS.index(label)] += 0.6 + 0.3 * np.sin(f)
        scores /= scores.sum()
        series.append(
            FramePoint(t=round(f / 4, 3), expression=[round(float(s), 4) for s in scores])
        )
    mean = np.mean([s.expression for s in series], axis=0)
    faces = {
        "backend": "synthetic",
        "frame_rate": 4.0,
        "frames": frames,
        "faces_per_frame": [1] * frames,
        "main_track": 0,
        "tracks": [
            {
                "id": 0,
                "frames": [
                    {"t": s.t, "box": [20.0, 20.0, 76.0, 76.0], "score": 0.99} for s in series
                ],
                "quality": {"presence": 1.0, "size_px": 56.0},
                "crops": ["face0_0.jpg"],
                "crop_frames": [0],
            }
        ],
    }
    cues = Cues(
        tracks=[
            TrackCues(
                track=0,
                series=series,
                expression_mean=dict(zip(LABELS, (round(float(v), 4) for v in mean), strict=True)),
                top_expression=LABELS[int(np.argmax(mean))],
            )
        ],
    )
    return faces, cues
