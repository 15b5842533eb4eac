"""Near-duplicate clips across a run: the same footage re-encoded, rescaled or re-cut.

A clip's signature is the dHash of each sampled frame (:mod:`emodata.fingerprint`). Two clips
are near-duplicates when at least ``min_share`` of the shorter one's frames are within
``max_hamming`` bits of some frame of the other; a group is a connected component of that
relation. Flat frames (one colour) carry no signature and are left out.

No pair of clips is compared blindly. Candidates come from multi-index hashing: each 64-bit
hash is cut into four 16-bit bands; two frames within ``4 * (probe_radius + 1) - 1`` bits agree
to within ``probe_radius`` bits on some band (pigeonhole), so looking each band up in a sorted
table, with every value up to ``probe_radius`` bit flips away, finds them all (and farther pairs
often). Only clips that share such a frame pair are compared in full; pairs already joined are
skipped. Buckets larger than ``max_bucket`` (a band value shared by that many frames carries no
information) are not expanded.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

from emodata.exports.graph import UnionFind
from emodata.exports.settings import NearDupConfig
from emodata.fingerprint import FLAT

BANDS, BAND_BITS = 4, 16


def parse(hashes: list[str]) -> np.ndarray:
    """Hex hashes -> uint64 array, flat frames left out."""
    return np.array([int(h, 16) for h in hashes if h not in FLAT], dtype=np.uint64)


def _masks(radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(BAND_BITS), r)]
    return np.array(masks, dtype=np.uint64)


def candidates(
    signatures: list[np.ndarray], probe_radius: int = 1, max_bucket: int = 2000
) -> Iterator[np.ndarray]:
    """Batches of clip pairs (n x 2, first < second) that share a close frame pair."""
    owner = np.concatenate(
        [np.full(len(s), i, dtype=np.int64) for i, s in enumerate(signatures)] or [np.zeros(0)]
    ).astype(np.int64)
    hashes = np.concatenate(signatures or [np.zeros(0, np.uint64)]).astype(np.uint64)
    n = len(signatures)
    for band in range(BANDS):
        values = (hashes >> np.uint64(band * BAND_BITS)) & np.uint64(0xFFFF)
        order = np.argsort(values, kind="stable")
        table = values[order]
        for mask in _masks(probe_radius):
            probe = values ^ mask
            lo = np.searchsorted(table, probe, "left")
            hi = np.searchsorted(table, probe, "right")
            counts = np.where(hi - lo > max_bucket, 0, hi - lo)
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo, counts)
            within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            a = np.repeat(owner, counts)
            b = owner[order[starts + within]]
            keep = a < b
            codes = np.unique(a[keep] * n + b[keep])
            yield np.stack([codes // n, codes % n], axis=1)


def similar(a: np.ndarray, b: np.ndarray, max_hamming: int, min_share: float) -> bool:
    """Do most frames of the shorter signature match some frame of the other?"""
    short, other = (a, b) if len(a) <= len(b) else (b, a)
    if not len(short):
        return False
    dist = np.bitwise_count(short[:, None] ^ other[None, :]).min(axis=1)
    return float(np.mean(dist <= max_hamming)) >= min_share


def groups(signatures: list[np.ndarray], cfg: NearDupConfig) -> tuple[np.ndarray, dict[str, int]]:
    """A group id per clip (-1: no near-duplicate) and counts (pairs compared, groups...)."""
    uf = UnionFind(len(signatures))
    counts = {"pairs_compared": 0, "pairs_similar": 0}
    for batch in candidates(signatures, cfg.probe_radius, cfg.max_bucket):
        for i, j in batch.tolist():
            if uf.find(i) == uf.find(j):
                continue  # already one group: no need to compare
            counts["pairs_compared"] += 1
            if similar(signatures[i], signatures[j], cfg.max_hamming, cfg.min_share):
                counts["pairs_similar"] += 1
                uf.join(i, j)
    labels = uf.labels()
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    grouped = sizes[labels] > 1 if len(labels) else np.zeros(0, dtype=bool)
    out = np.full(len(signatures), -1, dtype=np.int64)
    _, out[grouped] = np.unique(labels[grouped], return_inverse=True)
    counts["groups"] = int(out.max()) + 1 if len(out) else 0
    counts["clips_in_groups"] = int(grouped.sum())
    return out, counts
