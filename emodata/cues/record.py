"""What the cues stage measured of one clip, typed: the value of ``ClipRecord.cues``.

Each dataclass is a :class:`~emodata.document.Document` standing for one part of the sample
JSON's ``cues`` document, and ``to_dict`` writes exactly its keys: a measurement that could not
be made is null, and the few keys the stage leaves out (a track's ``female_prob`` without age
and gender frames, a frame's geometry without landmarks, the voice summary's ``top``: a voice
has no label) stay out. ``from_dict`` reads a sample JSON back; keys it does not know (a newer
writer's) are left out and missing ones take None or an empty value. Definitions and units are
in the modules that measure them (``visual``, ``audio``, ``face``, ``demographics``, ``words``,
``arousal``, ``modality``).

Maps keyed by open-ended names (label -> score, component -> z-score, modality -> value) stay
dicts: their keys are the models' and lexicons' labels, not a fixed shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emodata.document import NOT_NULL, OPTIONAL, Document


@dataclass
class VisualCues(Document):
    """Brightness, colour and motion over the sampled frames (None without frames)."""

    brightness: float | None = None
    colorfulness: float | None = None
    hue_mean_deg: float | None = None
    hue_spread: float | None = None
    motion: float | None = None


@dataclass
class AudioCues(Document):
    """Loudness, pitch and speech rate of the clip's audio (None where not measured)."""

    loudness_db: float | None = None
    loudness_max_db: float | None = None
    f0_median_hz: float | None = None
    f0_iqr_hz: float | None = None
    f0_iqr_st: float | None = None
    voiced_ratio: float | None = None
    speech_rate_wps: float | None = None


@dataclass
class Apparent(Document):
    """A face track's apparent age and gender presentation (perceived, not facts)."""

    age: float | None = None
    age_range: list[float] | None = None  # [10th, 90th percentile] of the age bins
    gender: str | None = None  # female or male
    gender_prob: float | None = None
    #: only written when the track had frames to measure (absent, not null, otherwise)
    female_prob: float | None = field(default=None, metadata=OPTIONAL)
    frames: int = 0


@dataclass
class FramePoint(Document):
    """One sampled frame of a track: expression scores (in ``face.LABELS`` order, None when the
    crop could not be scored) and, where the frame had landmarks, the face's geometry."""

    t: float
    expression: list[float] | None = None
    #: geometry: absent from the point (not null) when the frame had no landmarks
    mouth_open: float | None = field(default=None, metadata=OPTIONAL)
    eye_open: float | None = field(default=None, metadata=OPTIONAL)
    brow_raise: float | None = field(default=None, metadata=OPTIONAL)

    GEOMETRY = ("mouth_open", "eye_open", "brow_raise")


@dataclass
class TrackCues(Document):
    """The cues of one face track (``track`` is the faces stage's track id)."""

    track: int | None = None
    expression_mean: dict[str, float] | None = None  # FER2013 label -> mean score
    top_expression: str | None = None
    mouth_open: float | None = None
    eye_open: float | None = None
    brow_raise: float | None = None
    apparent: Apparent | None = None  # None when age and gender were not measured
    series: list[FramePoint] = field(default_factory=list)


@dataclass
class WordSegment(Document):
    """The words' affect of one transcript segment (``segment`` is its index)."""

    segment: int = 0
    start: float | None = None
    end: float | None = None
    valence: float | None = None
    top_emotion: str | None = None


@dataclass
class WordsCues(Document):
    """VADER valence and NRC emotion shares of what was said, whole and per segment."""

    valence: float | None = None
    emotions: dict[str, float] = field(default_factory=dict)  # NRC emotion -> share
    emotion_words: int = field(default=0, metadata=NOT_NULL)
    top_emotion: str | None = None
    segments: list[WordSegment] = field(default_factory=list)


@dataclass
class VoiceCues(Document):
    """Vocal arousal (None without loudness and a pitch), its z-scores and pitch reference."""

    arousal: float | None = None
    components: dict[str, float] = field(default_factory=dict)  # measure -> clipped z-score
    f0_ref_hz: float | None = None


@dataclass
class ModalityAffect(Document):
    """What one modality (face, voice or words) says of the affect: a label distribution, its
    top label, valence and arousal in [-1, 1], each None where that modality cannot tell."""

    labels: dict[str, float] | None = None
    top: str | None = None
    valence: float | None = None
    arousal: float | None = None

    def to_dict(self, *, top: bool = True) -> dict[str, Any]:
        """``top=False`` for a modality that names no label (the voice): no ``top`` key."""
        out = super().to_dict()
        if not top:
            del out["top"]
        return out


@dataclass
class Conflict(Document):
    """Two modalities whose values on one dimension have opposite signs."""

    dimension: str  # valence or arousal
    modalities: list[str] = field(default_factory=list)  # the pair, in MODALITIES order
    values: dict[str, float] = field(default_factory=dict)  # modality -> its value


@dataclass
class Modality(Document):
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
        return {**super().to_dict(), **{name: self.summary(name) for name in self.NAMES}}


@dataclass
class Cues(Document):
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
