"""Link detections across sampled frames into tracks, score them and pick the main subject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emodata.faces.base import Face


def iou(a: list[float], b: list[float]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _landmark_similarity(a: Face, b: Face) -> float:
    """1 when the 5 points coincide, 0 when they are a face-width apart on average."""
    scale = max(a.size, b.size, 1.0)
    return float(max(0.0, 1 - np.mean(np.linalg.norm(a.kps - b.kps, axis=1)) / scale))


@dataclass
class Track:
    id: int
    frames: list[int] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)

    @property
    def last(self) -> Face:
        return self.faces[-1]


def link(
    per_frame: list[list[Face]],
    identity: Callable[[Face, Face], float | None],
    max_gap: int = 2,
    min_iou: float = 0.2,
    min_sim: float = 0.5,
) -> list[Track]:
    """Greedy frame-to-frame matching by the best of IoU, embedding and landmark similarity."""
    tracks: list[Track] = []
    for fi, faces in enumerate(per_frame):
        # every track is a candidate: recent ones by overlap, any by identity (embedding), so
        # a face that leaves the frame for a while and comes back keeps its track
        live = tracks
        pairs = []
        for ti, t in enumerate(live):
            recent = fi - t.frames[-1] <= max_gap + 1
            for di, f in enumerate(faces):
                overlap = iou(t.last.box, f.box) if recent else 0.0
                emb = identity(t.last, f)
                shape = _landmark_similarity(t.last, f)
                ok = overlap >= min_iou or (emb is not None and emb >= min_sim)
                if ok:
                    pairs.append((max(overlap, emb or 0.0, shape * overlap), ti, di))
        used_t, used_d = set(), set()
        for _, ti, di in sorted(pairs, reverse=True):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            live[ti].frames.append(fi)
            live[ti].faces.append(faces[di])
        for di, f in enumerate(faces):
            if di not in used_d:
                tracks.append(Track(len(tracks), [fi], [f]))
    return tracks


def mouth_activity(
    track: Track, frame_times: list[float], speech: list[tuple[float, float]]
) -> float:
    """How much the mouth moves while someone speaks: the spread of the lip gap (68-point
    landmarks, relative to the inter-ocular distance) over the track's frames inside speech."""
    values = []
    for fi, face in zip(track.frames, track.faces, strict=True):
        pts = face.extra.get("landmarks68")
        t = frame_times[fi]
        if pts is None or not any(a <= t <= b for a, b in speech):
            continue
        p = np.asarray(pts)
        iod = max(float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))), 1e-6)
        values.append(float(np.linalg.norm(p[62] - p[66])) / iod)
    return float(np.std(values)) if len(values) >= 2 else 0.0


def main_subject(
    tracks: list[Track], n_frames: int, talking: dict[int, float] | None = None
) -> int | None:
    """The track with the largest presence x median size, raised by how much its mouth moves
    during speech when a transcript and landmarks are available (the speaker, not a bystander).
    """
    if not tracks or n_frames == 0:
        return None
    top = max((talking or {}).values(), default=0.0)

    def weight(t: Track) -> float:
        base = (len(t.frames) / n_frames) * float(np.median([f.size for f in t.faces]))
        boost = (talking or {}).get(t.id, 0.0) / top if top > 0 else 0.0
        return base * (1.0 + boost)

    return max(tracks, key=weight).id
