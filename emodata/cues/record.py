"""What the cues stage measured of one clip, typed: the value of ``ClipRecord.cues``.

Each dataclass stands for one part of the sample JSON's ``cues`` document and ``to_dict``
writes exactly its keys: a measurement that could not be made is null, and the few keys the
stage leaves out (a track's ``female_prob`` without age and gender frames, a frame's geometry
without landmarks, the voice summary's ``top``: a voice has no label) stay out. ``from_dict``
reads a sample JSON back; keys it does not know (a newer writer's) are left out and missing
ones take None or an empty value. Definitions and units are in the modules that measure them
(``visual``, ``audio``, ``face``, ``demographics``, ``words``, ``arousal``, ``modality``).

Maps keyed by open-ended names (label -> score, component -> z-score, modality -> value) stay
dicts: their keys are the models' and lexicons' labels, not a fixed shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _known(cls: type, data: dict[str, Any] | None) -> dict[str, Any]:
    """The items of ``data`` that are fields of ``cls`` (a newer writer's keys are left out)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in (data or {}).items() if k in names}


def _copy(value: Any) -> Any:
    """A fresh list or dict (the record does not share it with the document it was read from)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


@dataclass
class VisualCues:
    """Brightness, colour and motion over the sampled frames (None without frames)."""

    brightness: float | None = None
    colorfulness: float | None = None
    hue_mean_deg: float | None = None
    hue_spread: float | None = None
    motion: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VisualCues:
        return cls(**_known(cls, data))


@dataclass
class AudioCues:
    """Loudness, pitch and speech rate of the clip's audio (None where not measured)."""

    loudness_db: float | None = None
    loudness_max_db: float | None = None
    f0_median_hz: float | None = None
    f0_iqr_hz: float | None = None
    f0_iqr_st: float | None = None
    voiced_ratio: float | None = None
    speech_rate_wps: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AudioCues:
        return cls(**_known(cls, data))


@dataclass
class Apparent:
    """A face track's apparent age and gender presentation (perceived, not facts)."""

    age: float | None = None
    age_range: list[float] | None = None  # [10th, 90th percentile] of the age bins
    gender: str | None = None  # female or male
    gender_prob: float | None = None
    #: only written when the track had frames to measure (absent, not null, otherwise)
    female_prob: float | None = None
    frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "age": self.age,
            "age_range": _copy(self.age_range),
            "gender": self.gender,
            "gender_prob": self.gender_prob,
        }
        if self.female_prob is not None:
            out["female_prob"] = self.female_prob
        out["frames"] = self.frames
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Apparent:
        got = _known(cls, data)
        got["age_range"] = _copy(got.get("age_range"))
        got.setdefault("frames", 0)
        return cls(**got)


@dataclass
class FramePoint:
    """One sampled frame of a track: expression scores (in ``face.LABELS`` order, None when the
    crop could not be scored) and, where the frame had landmarks, the face's geometry."""

    t: float
    expression: list[float] | None = None
    #: geometry: absent from the point (not null) when the frame had no landmarks
    mouth_open: float | None = None
    eye_open: float | None = None
    brow_raise: float | None = None

    GEOMETRY = ("mouth_open", "eye_open", "brow_raise")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": self.t, "expression": _copy(self.expression)}
        for name in self.GEOMETRY:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FramePoint:
        got = _known(cls, data)
        got["expression"] = _copy(got.get("expression"))
        got.setdefault("t", None)
        return cls(**got)


@dataclass
class TrackCues:
    """The cues of one face track (``track`` is the faces stage's track id)."""

    track: int | None = None
    expression_mean: dict[str, float] | None = None  # FER2013 label -> mean score
    top_expression: str | None = None
    mouth_open: float | None = None
    eye_open: float | None = None
    brow_raise: float | None = None
    apparent: Apparent | None = None  # None when age and gender were not measured
    series: list[FramePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "expression_mean": _copy(self.expression_mean),
            "top_expression": self.top_expression,
            "mouth_open": self.mouth_open,
            "eye_open": self.eye_open,
            "brow_raise": self.brow_raise,
            "apparent": None if self.apparent is None else self.apparent.to_dict(),
            "series": [p.to_dict() for p in self.series],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackCues:
        got = _known(cls, data)
        got["expression_mean"] = _copy(got.get("expression_mean"))
        app = got.get("apparent")
        got["apparent"] = Apparent.from_dict(app) if isinstance(app, dict) else None
        got["series"] = [
            FramePoint.from_dict(p) for p in got.get("series") or [] if isinstance(p, dict)
        ]
        return cls(**got)


@dataclass
class WordSegment:
    """The words' affect of one transcript segment (``segment`` is its index)."""

    segment: int
    start: float | None = None
    end: float | None = None
    valence: float | None = None
    top_emotion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordSegment:
        got = _known(cls, data)
        got.setdefault("segment", 0)
        return cls(**got)


@dataclass
class WordsCues:
    """VADER valence and NRC emotion shares of what was said, whole and per segment."""

    valence: float | None = None
    emotions: dict[str, float] = field(default_factory=dict)  # NRC emotion -> share
    emotion_words: int = 0
    top_emotion: str | None = None
    segments: list[WordSegment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valence": self.valence,
            "emotions": dict(self.emotions),
            "emotion_words": self.emotion_words,
            "top_emotion": self.top_emotion,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordsCues:
        got = _known(cls, data)
        got["emotions"] = dict(got.get("emotions") or {})
        got["emotion_words"] = got.get("emotion_words") or 0
        got["segments"] = [
            WordSegment.from_dict(s) for s in got.get("segments") or [] if isinstance(s, dict)
        ]
        return cls(**got)


@dataclass
class VoiceCues:
    """Vocal arousal (None without loudness and a pitch), its z-scores and pitch reference."""

    arousal: float | None = None
    components: dict[str, float] = field(default_factory=dict)  # measure -> clipped z-score
    f0_ref_hz: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arousal": self.arousal,
            "components": dict(self.components),
            "f0_ref_hz": self.f0_ref_hz,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceCues:
        got = _known(cls, data)
        got["components"] = dict(got.get("components") or {})
        return cls(**got)


@dataclass
class ModalityAffect:
    """What one modality (face, voice or words) says of the affect: a label distribution, its
    top label, valence and arousal in [-1, 1], each None where that modality cannot tell."""

    labels: dict[str, float] | None = None
    top: str | None = None
    valence: float | None = None
    arousal: float | None = None

    def to_dict(self, *, top: bool = True) -> dict[str, Any]:
        """``top=False`` for a modality that names no label (the voice): no ``top`` key."""
        out: dict[str, Any] = {"labels": _copy(self.labels)}
        if top:
            out["top"] = self.top
        out["valence"] = self.valence
        out["arousal"] = self.arousal
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModalityAffect:
        got = _known(cls, data)
        got["labels"] = _copy(got.get("labels"))
        return cls(**got)


@dataclass
class Conflict:
    """Two modalities whose values on one dimension have opposite signs."""

    dimension: str  # valence or arousal
    modalities: list[str] = field(default_factory=list)  # the pair, in MODALITIES order
    values: dict[str, float] = field(default_factory=dict)  # modality -> its value

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "modalities": list(self.modalities),
            "values": dict(self.values),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conflict:
        return cls(
            dimension=data.get("dimension") or "",
            modalities=list(data.get("modalities") or []),
            values=dict(data.get("values") or {}),
        )


@dataclass
class Modality:
    """Per-modality affect (None: that modality measured nothing) and their conflicts."""

    face: ModalityAffect | None = None
    voice: ModalityAffect | None = None
    words: ModalityAffect | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    conflict: bool = False
    measured: list[str] = field(default_factory=list)  # the modalities that are not None

    NAMES = ("face", "voice", "words")
    #: modalities whose summary names no label, so has no ``top`` key
    UNLABELLED = ("voice",)

    def get(self, name: str) -> ModalityAffect | None:
        """The summary of the modality called ``name`` (None for one not measured)."""
        return getattr(self, name) if name in self.NAMES else None

    def summary(self, name: str) -> dict[str, Any] | None:
        """One modality's summary as the document has it."""
        affect = self.get(name)
        return None if affect is None else affect.to_dict(top=name not in self.UNLABELLED)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{name: self.summary(name) for name in self.NAMES},
            "conflicts": [c.to_dict() for c in self.conflicts],
            "conflict": self.conflict,
            "measured": list(self.measured),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Modality:
        return cls(
            **{
                name: ModalityAffect.from_dict(data[name])
                for name in cls.NAMES
                if isinstance(data.get(name), dict)
            },
            conflicts=[
                Conflict.from_dict(c) for c in data.get("conflicts") or [] if isinstance(c, dict)
            ],
            conflict=bool(data.get("conflict")),
            measured=list(data.get("measured") or []),
        )


@dataclass
class Cues:
    """Everything the cues stage measured of one clip (``ClipRecord.cues``)."""

    visual: VisualCues = field(default_factory=VisualCues)
    audio: AudioCues = field(default_factory=AudioCues)
    tracks: list[TrackCues] = field(default_factory=list)
    words: WordsCues | None = None  # None: nothing was said (or no transcript)
    voice: VoiceCues | None = None  # None: the transcript has no words
    modality: Modality | None = None

    def track(self, track_id: Any) -> TrackCues | None:
        """The cues of the face track ``track_id`` (the faces stage's id), if measured."""
        return next((t for t in self.tracks if t.track == track_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "visual": self.visual.to_dict(),
            "audio": self.audio.to_dict(),
            "tracks": [t.to_dict() for t in self.tracks],
            "words": None if self.words is None else self.words.to_dict(),
            "voice": None if self.voice is None else self.voice.to_dict(),
            "modality": None if self.modality is None else self.modality.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cues:
        """The cues from ``to_dict`` output (a sample JSON's ``cues``)."""

        def part(name: str, typ: Any) -> Any:
            value = data.get(name)
            return typ.from_dict(value) if isinstance(value, dict) else None

        return cls(
            visual=VisualCues.from_dict(data.get("visual")),
            audio=AudioCues.from_dict(data.get("audio")),
            tracks=[
                TrackCues.from_dict(t) for t in data.get("tracks") or [] if isinstance(t, dict)
            ],
            words=part("words", WordsCues),
            voice=part("voice", VoiceCues),
            modality=part("modality", Modality),
        )
