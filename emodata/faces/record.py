"""The faces stage's sub-record of a clip (``ClipRecord.faces``): tracks, their frames and
quality, crops and the main subject.

Each class is a :class:`~emodata.document.Document`: ``to_dict`` gives the sample JSON's
``faces`` document, key for key as the stage has always written it; ``from_dict`` reads one
back, leaving out keys it does not know (a newer writer's) and giving missing ones empty values,
so old samples and partial test documents still read. Values are kept as they were stored (no
float coercion), so a document round-trips unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emodata.document import SPREAD, Document


@dataclass
class Pose(Document):
    """Rough head pose in degrees from the 5 points (``emodata.faces.base.pose``)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass
class FaceFrame(Document):
    """One detection of a track, in one sampled frame."""

    t: float = 0.0  # seconds into the clip
    box: list[float] = field(default_factory=list)  # x1, y1, x2, y2 in pixels
    score: float | None = None  # detector confidence
    kps: list[list[float]] | None = None  # the 5 landmarks, 5 x 2
    pose: Pose | None = None
    #: what the backend adds per face (``Face.extra``), written beside the fixed keys: dlib's
    #: ``landmarks68``, or a plugin backend's own; kept whole, since backends name them
    extra: dict[str, Any] = field(default_factory=dict, metadata=SPREAD)

    @property
    def landmarks68(self) -> list[list[float]] | None:
        """dlib's 68 points (mouth, eyes, brows for the cues stage); None from other backends."""
        return self.extra.get("landmarks68")


@dataclass
class TrackQuality(Document):
    """How usable a track's faces are: medians over its frames (mean detector score)."""

    presence: float | None = None  # share of the clip's sampled frames it is in
    size_px: float | None = None  # short side of the box
    sharpness: float | None = None  # variance of the Laplacian of the aligned crop
    score: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None


@dataclass
class FaceTrack(Document):
    """One face followed across the sampled frames, with its best aligned crops."""

    id: int = 0
    frames: list[FaceFrame] = field(default_factory=list)
    quality: TrackQuality = field(default_factory=TrackQuality)
    crops: list[str] = field(default_factory=list)  # member names, ``face{id}_{k}.jpg``
    crop_frames: list[int] = field(default_factory=list)  # sampled frame of each crop
    #: the mean embedding of its faces (4 decimals), of the clip's ``embedding_model``; None
    #: when the backend computes none
    embedding: list[float] | None = None


@dataclass
class Faces(Document):
    """The faces of one clip: every track kept, the main subject's id, per-frame counts."""

    backend: str | None = None  # the face backend that detected them
    frame_rate: float | None = None  # sampled frames per second
    frames: int | None = None  # sampled frames looked at
    faces_per_frame: list[int] = field(default_factory=list)  # detections per sampled frame
    tracks: list[FaceTrack] = field(default_factory=list)
    main_track: int | None = None  # id of the main subject's track (None without tracks)
    #: the model of the tracks' embeddings: tracks are only compared within one model
    embedding_model: str | None = None

    @property
    def main(self) -> FaceTrack | None:
        """The main subject's track, or None."""
        return self.track(self.main_track)

    def track(self, track_id: int | None) -> FaceTrack | None:
        return next((t for t in self.tracks if t.id == track_id), None)
