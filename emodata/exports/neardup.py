"""Near-duplicate clips across a run: the same footage re-encoded, rescaled or re-cut.

A clip's signature is the dHash of each sampled frame (:mod:`emodata.fingerprint`). Two clips
are near-duplicates when at least ``min_share`` of the shorter one's frames are within
``max_hamming`` bits of some frame of the other; a group is a connected component of that
relation. Flat frames (one colour) carry no signature and are left out.

No pair of clips is compared blindly. Candidates come from multi-index hashing: each 64-bit
hash is cut into four 16-bit bands; two frames within ``4 * (probe_radius + 1) - 1`` bits (7 by
default) agree to within ``probe_radius`` bits on some band (pigeonhole), so looking each band
up in a sorted table, with every value up to ``probe_radius`` bit flips away, finds them all
(and farther pairs often). Clips that share two such frame pairs (one, when either clip has a
single frame) are compared in full, all candidate pairs at once with array operations; a single
shared pair is mostly a chance band match. Buckets larger than ``max_bucket`` (a band value
shared by that many frames carries no information) are not expanded.
"""

from __future__ import annotations

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
) -> np.ndarray:
    """Clip pairs (n x 2, first < second) worth comparing: those with a close frame pair (two,
    when both clips have more than one frame; one chance band match is common, two are not)."""
    sizes = np.array([len(s) for s in signatures], dtype=np.int64)
    owner = np.repeat(np.arange(len(signatures), dtype=np.int64), sizes)
    hashes = np.concatenate([*signatures, np.zeros(0, np.uint64)]).astype(np.uint64)
    frames = len(hashes)
    found = []
    for band in range(BANDS):
        values = (hashes >> np.uint64(band * BAND_BITS)) & np.uint64(0xFFFF)
        order = np.argsort(values, kind="stable")
        table = values[order]
        for mask in _masks(probe_radius):
            lo = np.searchsorted(table, values ^ mask, "left")
            hi = np.searchsorted(table, values ^ mask, "right")
            counts = np.where(hi - lo > max_bucket, 0, hi - lo)
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo, counts)
            within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            a = np.repeat(np.arange(frames, dtype=np.int64), counts)
            b = order[starts + within]
            keep = owner[a] < owner[b]
            found.append(a[keep] * frames + b[keep])
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = _distinct(np.concatenate(found))  # distinct close frame pairs
    clips = np.sort(owner[pairs // frames] * len(signatures) + owner[pairs % frames])
    starts = np.flatnonzero(np.r_[True, clips[1:] != clips[:-1]])
    codes, hits = clips[starts], np.diff(np.r_[starts, len(clips)])
    first, second = codes // len(signatures), codes % len(signatures)
    need = np.where(np.minimum(sizes[first], sizes[second]) > 1, 2, 1)
    keep = hits >= need
    return np.stack([first[keep], second[keep]], axis=1)


def _distinct(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if len(x) else x


def similar(a: np.ndarray, b: np.ndarray, max_hamming: int, min_share: float) -> bool:
    """Do most frames of the shorter signature match some frame of the other?"""
    short, other = (a, b) if len(a) <= len(b) else (b, a)
    if not len(short):
        return False
    dist = np.bitwise_count(short[:, None] ^ other[None, :]).min(axis=1)
    return float(np.mean(dist <= max_hamming)) >= min_share


def similar_pairs(
    signatures: list[np.ndarray], pairs: np.ndarray, cfg: NearDupConfig, chunk: int = 20_000
) -> np.ndarray:
    """:func:`similar` for many clip pairs at once (a bool per row of ``pairs``)."""
    sizes = np.array([len(s) for s in signatures], dtype=np.int64)
    width = int(sizes.max()) if len(sizes) else 0
    table = np.zeros((len(signatures), max(width, 1)), dtype=np.uint64)
    valid = np.arange(max(width, 1))[None, :] < sizes[:, None]
    for i, sig in enumerate(signatures):
        table[i, : len(sig)] = sig
    out = np.zeros(len(pairs), dtype=bool)
    for start in range(0, len(pairs), chunk):
        a, b = pairs[start : start + chunk, 0], pairs[start : start + chunk, 1]
        short = np.where(sizes[a] <= sizes[b], a, b)
        other = np.where(sizes[a] <= sizes[b], b, a)
        dist = np.bitwise_count(table[short][:, :, None] ^ table[other][:, None, :])
        dist = np.where(valid[other][:, None, :], dist, 64).min(axis=2)
        matched = ((dist <= cfg.max_hamming) & valid[short]).sum(axis=1)
        out[start : start + chunk] = (sizes[short] > 0) & (
            matched >= cfg.min_share * sizes[short] - 1e-9
        )
    return out


def groups(signatures: list[np.ndarray], cfg: NearDupConfig) -> tuple[np.ndarray, dict[str, int]]:
    """A group id per clip (-1: no near-duplicate) and counts (pairs compared, groups...)."""
    pairs = candidates(signatures, cfg.probe_radius, cfg.max_bucket)
    close = similar_pairs(signatures, pairs, cfg)
    uf = UnionFind(len(signatures))
    uf.union(pairs[close, 0], pairs[close, 1])
    counts = {
        "pairs_compared": len(pairs),
        "pairs_similar": int(close.sum()),
        "clips_without_signature": sum(1 for sig in signatures if not len(sig)),
    }
    labels = uf.labels()
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    grouped = sizes[labels] > 1 if len(labels) else np.zeros(0, dtype=bool)
    out = np.full(len(signatures), -1, dtype=np.int64)
    _, out[grouped] = np.unique(labels[grouped], return_inverse=True)
    counts["groups"] = int(out.max()) + 1 if len(out) else 0
    counts["clips_in_groups"] = int(grouped.sum())
    return out, counts
