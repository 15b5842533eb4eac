"""faces: detection with 5 landmarks on the sampled frames, aligned 112x112 crops, tracks,
per-track quality and the main subject; an actor pool (models load once per actor)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodata.config import FACE_BACKENDS, FacesConfig
from emodata.faces.base import Face, FaceBackend, align, pose, sharpness
from emodata.faces.record import FaceFrame, Faces, FaceTrack, TrackQuality
from emodata.faces.track import Track, link, main_subject, mouth_activity
from emodata.records import Item
from emodata.stages.base import Resources, Stage


def track_embedding(faces: list[Face], normed: bool) -> list[float] | None:
    """The mean embedding of a track's faces (re-normalised for cosine models), 4 decimals."""
    vecs = [np.asarray(f.embedding, dtype=np.float64) for f in faces if f.embedding is not None]
    if not vecs:
        return None
    mean = np.mean(vecs, axis=0)
    if normed:
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return [round(float(v), 4) for v in mean]


def make_backend(config: FacesConfig) -> FaceBackend:
    """The face backend ``faces.backend`` names (``emodata.config.FACE_BACKENDS``)."""
    return FACE_BACKENDS.build(config)


def decode_jpeg(data: bytes) -> np.ndarray:
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _frame_record(t: float, f: Face) -> FaceFrame:
    return FaceFrame(
        t=round(t, 3),
        box=[round(v, 1) for v in f.box],
        score=round(f.score, 3),
        kps=np.round(f.kps, 1).tolist(),
        pose=pose(f.kps),
        extra=dict(f.extra),
    )


@dataclass
class FacesStage(Stage):
    config: FacesConfig
    name = "faces"
    stateful = True

    def __post_init__(self) -> None:
        c = self.config
        self.resources = Resources(cpus=c.cpus_per_actor, custom=dict(c.resources))
        self.batch_size = c.batch_size
        self.concurrency = c.actors
        self.backend: FaceBackend | None = None

    def setup(self) -> None:
        self.backend = make_backend(self.config)
        self.backend.load()

    def analyse(
        self,
        frames: list[np.ndarray],
        frame_rate: float,
        speech: list[tuple[float, float]] | None = None,
    ) -> tuple[Faces, dict[str, bytes]]:
        """Faces of a clip's frames -> (faces record, aligned crops keyed by member name).

        ``speech``: voiced spans (s) from the transcript, used to prefer the speaking face.
        """
        if self.backend is None:
            self.setup()
        assert self.backend is not None
        per_frame = [self.backend.detect(f) for f in frames]
        tracks = [
            t
            for t in link(per_frame, self.backend.identity, max_gap=self.config.max_gap)
            if len(t.frames) >= self.config.min_track_frames
        ]
        times = [i / frame_rate for i in range(len(frames))]
        talking = {t.id: mouth_activity(t, times, speech) for t in tracks} if speech else None
        main = main_subject(tracks, len(frames), talking)
        crops: dict[str, bytes] = {}
        out_tracks = []
        model = self.backend.embedding_model
        for t in tracks:
            record, track_crops = self._track(t, frames, frame_rate, self.backend.unit_embeddings)
            crops.update(track_crops)
            out_tracks.append(record)
        counts = [len(f) for f in per_frame]
        faces = Faces(
            backend=self.backend.name,
            frame_rate=frame_rate,
            frames=len(frames),
            faces_per_frame=counts,
            tracks=out_tracks,
            main_track=main,
            embedding_model=model,
        )
        return faces, crops

    def _track(
        self, t: Track, frames: list[np.ndarray], rate: float, normed: bool
    ) -> tuple[FaceTrack, dict[str, bytes]]:
        aligned = [align(frames[fi], f.kps) for fi, f in zip(t.frames, t.faces, strict=True)]
        sharp = [sharpness(a) for a in aligned]
        poses = [pose(f.kps) for f in t.faces]
        frontal = [1.0 - min(1.0, abs(p.yaw) / 60) for p in poses]
        quality = [
            f.score * f.size * (1 + s) ** 0.25 * fr
            for f, s, fr in zip(t.faces, sharp, frontal, strict=True)
        ]
        best = sorted(range(len(t.faces)), key=lambda i: -quality[i])[: self.config.crops_per_track]
        crops = {f"face{t.id}_{k}.jpg": encode_jpeg(aligned[i]) for k, i in enumerate(best)}
        record = FaceTrack(
            id=t.id,
            frames=[_frame_record(fi / rate, f) for fi, f in zip(t.frames, t.faces, strict=True)],
            quality=TrackQuality(
                presence=round(len(t.frames) / len(frames), 3),
                size_px=round(float(np.median([f.size for f in t.faces])), 1),
                sharpness=round(float(np.median(sharp)), 1),
                score=round(float(np.mean([f.score for f in t.faces])), 3),
                yaw=float(np.median([p.yaw for p in poses])),
                pitch=float(np.median([p.pitch for p in poses])),
                roll=float(np.median([p.roll for p in poses])),
            ),
            crops=list(crops),
            crop_frames=[t.frames[i] for i in best],
            embedding=track_embedding(t.faces, normed=normed),
        )
        return record, crops

    def process_item(self, item: Item) -> list[Item]:
        rec = item.record
        names = sorted(k for k in item.blobs if k.startswith("frame") and k.endswith(".jpg"))
        frames = [decode_jpeg(item.blobs[k]) for k in names]
        segments = rec.transcript.segments if rec.transcript is not None else []
        speech = [(s.start, s.end) for s in segments]
        faces, crops = self.analyse(frames, float(rec.clip.frame_rate or 1.0), speech)
        item.blobs.update(crops)
        rec.faces = faces
        item.mark(self.name, "ok" if frames else "no_frames")
        return [item]
