"""The faces stage's sub-record of a clip (``ClipRecord.faces``): tracks, their frames and
quality, crops and the main subject.

``to_dict`` gives the sample JSON's ``faces`` document, key for key as the stage has always
written it; ``from_dict`` reads one back, leaving out keys it does not know (a newer writer's)
and giving missing ones empty values, so old samples and partial test documents still read.
Values are kept as they were stored (no float coercion), so a document round-trips unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Pose:
    """Rough head pose in degrees from the 5 points (``emodata.faces.base.pose``)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pose:
        return cls(
            yaw=data.get("yaw", 0.0), pitch=data.get("pitch", 0.0), roll=data.get("roll", 0.0)
        )


@dataclass
class FaceFrame:
    """One detection of a track, in one sampled frame."""

    t: float = 0.0  # seconds into the clip
    box: list[float] = field(default_factory=list)  # x1, y1, x2, y2 in pixels
    score: float | None = None  # detector confidence
    kps: list[list[float]] | None = None  # the 5 landmarks, 5 x 2
    pose: Pose | None = None
    #: what the backend adds per face (``Face.extra``), written beside the fixed keys: dlib's
    #: ``landmarks68``, or a plugin backend's own; kept whole, since backends name them
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("t", "box", "score", "kps", "pose")

    @property
    def landmarks68(self) -> list[list[float]] | None:
        """dlib's 68 points (mouth, eyes, brows for the cues stage); None from other backends."""
        return self.extra.get("landmarks68")

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "box": self.box,
            "score": self.score,
            "kps": self.kps,
            "pose": None if self.pose is None else self.pose.to_dict(),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceFrame:
        pose = data.get("pose")
        return cls(
            t=data.get("t", 0.0),
            box=list(data.get("box") or []),
            score=data.get("score"),
            kps=data.get("kps"),
            pose=Pose.from_dict(pose) if isinstance(pose, dict) else None,
            extra={k: v for k, v in data.items() if k not in cls._KEYS},
        )


@dataclass
class TrackQuality:
    """How usable a track's faces are: medians over its frames (mean detector score)."""

    presence: float | None = None  # share of the clip's sampled frames it is in
    size_px: float | None = None  # short side of the box
    sharpness: float | None = None  # variance of the Laplacian of the aligned crop
    score: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "presence": self.presence,
            "size_px": self.size_px,
            "sharpness": self.sharpness,
            "score": self.score,
            "yaw": self.yaw,
            "pitch": self.pitch,
            "roll": self.roll,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackQuality:
        return cls(
            presence=data.get("presence"),
            size_px=data.get("size_px"),
            sharpness=data.get("sharpness"),
            score=data.get("score"),
            yaw=data.get("yaw"),
            pitch=data.get("pitch"),
            roll=data.get("roll"),
        )


@dataclass
class FaceTrack:
    """One face followed across the sampled frames, with its best aligned crops."""

    id: int = 0
    frames: list[FaceFrame] = field(default_factory=list)
    quality: TrackQuality = field(default_factory=TrackQuality)
    crops: list[str] = field(default_factory=list)  # member names, ``face{id}_{k}.jpg``
    crop_frames: list[int] = field(default_factory=list)  # sampled frame of each crop
    #: the mean embedding of its faces (4 decimals), of the clip's ``embedding_model``; None
    #: when the backend computes none
    embedding: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "frames": [f.to_dict() for f in self.frames],
            "quality": self.quality.to_dict(),
            "crops": self.crops,
            "crop_frames": self.crop_frames,
            "embedding": self.embedding,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceTrack:
        return cls(
            id=data.get("id", 0),
            frames=[FaceFrame.from_dict(f) for f in data.get("frames") or []],
            quality=TrackQuality.from_dict(data.get("quality") or {}),
            crops=list(data.get("crops") or []),
            crop_frames=list(data.get("crop_frames") or []),
            embedding=data.get("embedding"),
        )


@dataclass
class Faces:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "frame_rate": self.frame_rate,
            "frames": self.frames,
            "faces_per_frame": self.faces_per_frame,
            "tracks": [t.to_dict() for t in self.tracks],
            "main_track": self.main_track,
            "embedding_model": self.embedding_model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faces:
        """The faces from ``to_dict`` output (a sample JSON's ``faces``)."""
        return cls(
            backend=data.get("backend"),
            frame_rate=data.get("frame_rate"),
            frames=data.get("frames"),
            faces_per_frame=list(data.get("faces_per_frame") or []),
            tracks=[FaceTrack.from_dict(t) for t in data.get("tracks") or []],
            main_track=data.get("main_track"),
            embedding_model=data.get("embedding_model"),
        )
