"""cues: measured visual, audio and per-face signals (definitions and units in emodata.cues).

Runs after segment and, when they ran, transcribe (speech rate, words' affect) and faces
(expression scores, landmark geometry, apparent age and gender per track). Then the affect of
each modality (face, voice, words) is summarised and their conflicts recorded. Each missing
input only removes the cues that need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodata.config import CuesConfig
from emodata.cues.arousal import vocal_arousal
from emodata.cues.audio import audio_cues
from emodata.cues.demographics import AgeGenderModel, track_summary
from emodata.cues.face import LABELS, ExpressionModel, crop_for_expression, geometry
from emodata.cues.modality import summarise
from emodata.cues.record import Cues, FramePoint, TrackCues
from emodata.cues.visual import visual_cues
from emodata.cues.words import WordsAffect
from emodata.faces.record import Faces
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
        self.age_gender: AgeGenderModel | None = None
        self.words: WordsAffect | None = None

    def setup(self) -> None:
        self.expression = ExpressionModel()
        self.expression.load()
        if self.config.age_gender:
            self.age_gender = AgeGenderModel()
            self.age_gender.load()
        self.words = WordsAffect(lexicon_model=self.config.word_lexicon)
        self.words.load()

    def track_cues(self, frames: list[np.ndarray], faces: Faces) -> list[TrackCues]:
        import cv2

        if self.expression is None:
            self.setup()
        assert self.expression is not None
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        rate = float(faces.frame_rate or 1.0)
        out = []
        for track in faces.tracks:
            series: list[FramePoint] = []
            ages, genders = [], []
            for fr in track.frames:
                i = min(len(grey) - 1, round(fr.t * rate))
                point = FramePoint(t=fr.t)
                try:
                    p = self.expression.scores(crop_for_expression(grey[i], fr.box))
                    point.expression = [round(float(v), 4) for v in p]
                except ValueError:
                    point.expression = None
                if fr.landmarks68:
                    for name, value in geometry(np.asarray(fr.landmarks68)).items():
                        setattr(point, name, value)
                if self.age_gender is not None:
                    try:
                        pa, pg = self.age_gender.predict(frames[i], fr.box)
                    except ValueError:  # a box too small to align
                        pass
                    else:
                        ages.append(pa)
                        genders.append(pg)
                series.append(point)
            scored = [s.expression for s in series if s.expression is not None]
            mean = np.mean(scored, axis=0) if scored else None
            out.append(
                TrackCues(
                    track=track.id,
                    expression_mean=None
                    if mean is None
                    else dict(zip(LABELS, (round(float(v), 4) for v in mean), strict=True)),
                    top_expression=None if mean is None else LABELS[int(np.argmax(mean))],
                    **{k: _mean(series, k) for k in FramePoint.GEOMETRY},
                    apparent=track_summary(ages, genders) if self.age_gender is not None else None,
                    series=series,
                )
            )
        return out

    def process_item(self, item: Item) -> list[Item]:
        rec = item.record
        names = sorted(k for k in item.blobs if k.startswith("frame") and k.endswith(".jpg"))
        frames = [decode_jpeg(item.blobs[k]) for k in names]
        audio = wav_to_float32(item.blobs["wav"]) if "wav" in item.blobs else None
        if self.words is None:
            self.setup()
        assert self.words is not None
        transcript = rec.transcript
        cues = Cues(
            visual=visual_cues(frames),
            audio=audio_cues(audio, transcript),
            tracks=self.track_cues(frames, rec.faces) if rec.faces is not None else [],
            words=self.words.measure(transcript),
        )
        main = cues.track(rec.faces.main_track if rec.faces is not None else None)
        gender = main.apparent.gender if main and main.apparent else None
        spoken = transcript is None or bool(transcript.text.strip())
        cues.voice = vocal_arousal(cues.audio, gender) if spoken else None
        cues.modality = summarise(
            main.expression_mean if main else None,
            cues.voice.arousal if cues.voice else None,
            cues.words,
            min_level=self.config.conflict_min_level,
            min_gap=self.config.conflict_min_gap,
        )
        rec.cues = cues
        item.mark(self.name)
        return [item]


def _mean(series: list[FramePoint], key: str) -> float | None:
    vals = [getattr(s, key) for s in series if getattr(s, key) is not None]
    return round(float(np.mean(vals)), 4) if vals else None
