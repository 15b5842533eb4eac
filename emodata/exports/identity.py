"""Who is who across a run: face tracks clustered by their mean embedding.

The faces stage stores, per track, the mean embedding of its faces and, per clip, the model that
made it. Tracks of one model are joined when they are closer than the model's threshold (dlib's
ResNet: euclidean distance within ``identity.dlib_max_distance``, 0.6; ArcFace: cosine similarity
at least ``identity.arcface_min_cosine``, 0.4); an identity is a connected component of that
threshold graph (single linkage: a chain of close tracks is one person). The distance matrix is
computed a block of rows at a time, so memory stays at ``block x tracks`` floats; 10,000 tracks
take about a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from emodata.exports.graph import UnionFind
from emodata.exports.settings import IdentityConfig

#: The faces backends' embedding models and how their distances are read.
METRICS = {"dlib-resnet-128": "euclidean", "arcface-512": "cosine"}


def close_pairs(
    x: np.ndarray, metric: str, threshold: float, block: int = 2048
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs (i < j) of rows of ``x`` within ``threshold``, one row block at a time."""
    x = np.asarray(x, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sq = np.einsum("ij,ij->i", x, x)
    for start in range(0, len(x), block):
        rows = x[start : start + block]
        right = x[start:]  # only j >= start: each pair once
        dots = rows @ right.T
        if metric == "cosine":
            near = dots >= threshold
        else:
            dist2 = sq[start : start + block, None] + sq[None, start:] - 2 * dots
            near = dist2 <= threshold * threshold
        i, j = np.nonzero(near)
        upper = j > i  # the block's own diagonal and below are pairs already seen (or self)
        yield i[upper] + start, j[upper] + start


def cluster(x: np.ndarray, metric: str, threshold: float, block: int = 2048) -> np.ndarray:
    """Identity per row of ``x`` (component ids 0..k-1 in order of first row)."""
    uf = UnionFind(len(x))
    for a, b in close_pairs(x, metric, threshold, block):
        uf.union(a, b)
    return uf.labels()


@dataclass
class Track:
    owner: int  # the sample's position in the plan
    model: str
    embedding: list[float]


def threshold(model: str, cfg: IdentityConfig) -> float:
    return cfg.dlib_max_distance if METRICS[model] == "euclidean" else cfg.arcface_min_cosine


def identities(tracks: list[Track], cfg: IdentityConfig) -> tuple[np.ndarray, dict[str, int]]:
    """A global identity id per track (tracks of different models never match) and counts."""
    ids = np.full(len(tracks), -1, dtype=np.int64)
    counts = {"tracks": 0, "tracks_unknown_model": 0, "identity_clusters": 0}
    next_id = 0
    by_model: dict[str, list[int]] = {}
    for n, t in enumerate(tracks):
        if t.model in METRICS and t.embedding:
            by_model.setdefault(t.model, []).append(n)
        else:
            counts["tracks_unknown_model"] += 1
    for model, members in sorted(by_model.items()):
        x = np.asarray([tracks[n].embedding for n in members], dtype=np.float32)
        labels = cluster(x, METRICS[model], threshold(model, cfg), cfg.block)
        ids[members] = labels + next_id
        next_id += int(labels.max()) + 1
        counts["tracks"] += len(members)
    counts["identity_clusters"] = next_id
    return ids, counts
