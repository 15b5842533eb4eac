"""cues: measured visual, audio and per-face signals (definitions and units in emodata.cues).

Runs after segment and, when they ran, transcribe (speech rate) and faces (expression scores
and landmark geometry per track). Each missing input only removes the cues that need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emodata.config import CuesConfig
from emodata.cues.audio import audio_cues
from emodata.cues.face import LABELS, ExpressionModel, crop_for_expression, geometry
from emodata.cues.visual import visual_cues
from emodata.media import wav_to_float32
from emodata.records import Item
from emodata.stages.base import Resources, Stage
from emodata.stages.faces import decode_jpeg


@dataclass
class CuesStage(Stage):
    config: CuesConfig
    name = "cues"
    stateful = True

    def __post_init__(self) -> None:
        self.resources = Resources(
            cpus=self.config.cpus_per_actor, custom=dict(self.config.resources)
        )
        self.batch_size = self.config.batch_size
        self.concurrency = self.config.actors
        self.expression: ExpressionModel | None = None

    def setup(self) -> None:
        self.expression = ExpressionModel()
        self.expression.load()

    def track_cues(self, frames: list[np.ndarray], faces: dict[str, Any]) -> list[dict]:
        import cv2

        if self.expression is None:
            self.setup()
        assert self.expression is not None
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        rate = float(faces.get("frame_rate") or 1.0)
        out = []
        for track in faces.get("tracks", []):
            series = []
            for fr in track["frames"]:
                i = min(len(grey) - 1, round(fr["t"] * rate))
                point: dict[str, Any] = {"t": fr["t"]}
                try:
                    p = self.expression.scores(crop_for_expression(grey[i], fr["box"]))
                    point["expression"] = [round(float(v), 4) for v in p]
                except ValueError:
                    point["expression"] = None
                if fr.get("landmarks68"):
                    point.update(geometry(np.asarray(fr["landmarks68"])))
                series.append(point)
            scored = [s["expression"] for s in series if s["expression"] is not None]
            mean = np.mean(scored, axis=0) if scored else None
            out.append(
                {
                    "track": track["id"],
                    "expression_mean": None
                    if mean is None
                    else dict(zip(LABELS, (round(float(v), 4) for v in mean), strict=True)),
                    "top_expression": None if mean is None else LABELS[int(np.argmax(mean))],
                    **{k: _mean(series, k) for k in ("mouth_open", "eye_open", "brow_raise")},
                    "series": series,
                }
            )
        return out

    def process_item(self, item: Item) -> list[Item]:
        rec = item.record
        names = sorted(k for k in item.blobs if k.startswith("frame") and k.endswith(".jpg"))
        frames = [decode_jpeg(item.blobs[k]) for k in names]
        audio = wav_to_float32(item.blobs["wav"]) if "wav" in item.blobs else None
        cues: dict[str, Any] = {
            "visual": visual_cues(frames),
            "audio": audio_cues(audio, rec.get("transcript")),
            "tracks": self.track_cues(frames, rec["faces"]) if rec.get("faces") else [],
        }
        rec["cues"] = cues
        main_id = (rec.get("faces") or {}).get("main_track")
        main = next((t for t in cues["tracks"] if t["track"] == main_id), None)
        v, a = cues["visual"], cues["audio"]
        rec.update(
            cue_brightness=v["brightness"],
            cue_colorfulness=v["colorfulness"],
            cue_motion=v["motion"],
            cue_loudness_db=a["loudness_db"],
            cue_f0_median_hz=a["f0_median_hz"],
            cue_speech_rate_wps=a["speech_rate_wps"],
            main_expression=main["top_expression"] if main else None,
            main_expression_score=(
                main["expression_mean"][main["top_expression"]]
                if main and main["top_expression"]
                else None
            ),
        )
        item.mark(self.name)
        return [item]


def _mean(series: list[dict], key: str) -> float | None:
    vals = [s[key] for s in series if s.get(key) is not None]
    return round(float(np.mean(vals)), 4) if vals else None
