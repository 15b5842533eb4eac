"""Connected components with a vectorised union-find (numpy), for identities, duplicates, splits.

Pairs arrive in batches (a block of a distance matrix, the members of a group); each batch is
merged with array operations, so a hundred thousand pairs cost milliseconds, not a Python loop.
"""

from __future__ import annotations

import numpy as np


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def _flatten(self) -> None:
        """Point every node at its root (pointer jumping until nothing changes)."""
        p = self.parent
        while True:
            grand = p[p]
            if np.array_equal(grand, p):
                return
            p[:] = grand

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        """Merge the sets of ``a[i]`` and ``b[i]`` for every i."""
        a = np.asarray(a, dtype=np.int64).ravel()
        b = np.asarray(b, dtype=np.int64).ravel()
        while a.size:
            self._flatten()
            ra, rb = self.parent[a], self.parent[b]
            apart = ra != rb
            a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]
            # several writes to one root keep only the last; the loop merges the rest next time
            self.parent[np.maximum(ra, rb)] = np.minimum(ra, rb)

    def find(self, x: int) -> int:
        """The root of ``x`` (path halving), for pair-at-a-time use."""
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = int(p[x])
        return x

    def join(self, a: int, b: int) -> bool:
        """Merge the sets of ``a`` and ``b``; False when they were already one."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True

    def union_groups(self, groups: np.ndarray) -> None:
        """Merge the nodes that share a group id (``groups[i]`` for node i; -1: no group)."""
        groups = np.asarray(groups)
        nodes = np.flatnonzero(groups >= 0)
        if nodes.size < 2:
            return
        order = nodes[np.argsort(groups[nodes], kind="stable")]
        same = groups[order[1:]] == groups[order[:-1]]
        self.union(order[1:][same], order[:-1][same])

    def labels(self) -> np.ndarray:
        """Component id per node: 0, 1, ... in order of each component's first node."""
        self._flatten()
        _, first, inverse = np.unique(self.parent, return_index=True, return_inverse=True)
        rank = np.empty_like(first)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        return rank[inverse]


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component labels of ``n`` nodes joined by the edges ``(a[i], b[i])``."""
    uf = UnionFind(n)
    uf.union(a, b)
    return uf.labels()
