"""Identity clustering and the union-find it rests on: exact partitions on planted people."""

from __future__ import annotations

import numpy as np
import pytest

from emodata.exports.graph import UnionFind, components
from emodata.exports.identity import Track, close_pairs, cluster, identities
from emodata.exports.settings import IdentityConfig
from emodata.review.synth_faces import People


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _reference(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    return np.array([find(i) for i in range(n)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_union_find_matches_a_plain_one(seed):
    rng = np.random.default_rng(seed)
    n = 500
    a, b = rng.integers(0, n, 400), rng.integers(0, n, 400)
    got = components(n, a, b)
    assert _same_partition(got, _reference(n, list(zip(a.tolist(), b.tolist(), strict=True))))
    assert got[0] == 0 and set(got.tolist()) == set(range(got.max() + 1))


def test_union_groups_joins_members_of_a_group():
    uf = UnionFind(6)
    uf.union_groups(np.array([3, -1, 3, 7, -1, 7]))
    assert uf.labels().tolist() == [0, 1, 0, 2, 3, 2]


@pytest.mark.parametrize("model", ["dlib-resnet-128", "arcface-512"])
def test_planted_people_are_recovered_exactly(model):
    people = People(60, model, seed=3)
    persons = np.repeat(np.arange(60), 5)
    x = np.array([people.embedding(int(p), i) for i, p in enumerate(persons)])
    metric = "euclidean" if model == "dlib-resnet-128" else "cosine"
    limit = 0.6 if metric == "euclidean" else 0.4
    got = cluster(x, metric, limit, block=37)  # blocks smaller than the matrix
    assert _same_partition(got, persons)


def test_blocked_pairs_equal_the_full_matrix():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.3, (200, 16))
    full = np.linalg.norm(x[:, None] - x[None], axis=2)
    want = {(i, j) for i, j in zip(*np.nonzero(full <= 1.2), strict=True) if i < j}
    got = set()
    for a, b in close_pairs(x, "euclidean", 1.2, block=23):
        got |= set(zip(a.tolist(), b.tolist(), strict=True))
    assert got == want


def test_models_never_match_each_other_and_unknown_models_are_counted():
    people = People(2, "arcface-512", seed=0)
    dlib = People(2, "dlib-resnet-128", seed=0)
    tracks = [
        Track(0, "arcface-512", people.embedding(0, 0)),
        Track(1, "arcface-512", people.embedding(0, 1)),
        Track(2, "dlib-resnet-128", dlib.embedding(1, 2)),
        Track(3, "mystery-64", [0.1] * 64),
    ]
    ids, counts = identities(tracks, IdentityConfig())
    assert ids.tolist() == [0, 0, 1, -1]  # models in name order: arcface, then dlib
    assert counts == {"tracks": 3, "tracks_unknown_model": 1, "identity_clusters": 2}
    strict = IdentityConfig(arcface_min_cosine=0.999)
    assert identities(tracks, strict)[1]["identity_clusters"] == 3
