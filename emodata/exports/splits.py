"""Leak-free splits: no source video, person or near-duplicate group in two splits.

Samples are joined when they share a source (``source_id``), a face identity (see
:mod:`emodata.exports.identity`) or a near-duplicate group; each connected component is a unit
that goes to one split whole. Units are placed largest first (equal sizes in a seeded random
order), each into the split that is least full relative to its target, so the ratios are met as
closely as the units allow. :func:`leakage` checks the written release independently: it reads
the release index with DuckDB and counts samples whose source, identity or group appears in more
than one split.
"""

from __future__ import annotations

import random
import re
from typing import Any

import duckdb
import numpy as np

from emodata.exports.graph import UnionFind

_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")


def parse_split(text: str) -> dict[str, float]:
    """``"train=0.8,val=0.1,test=0.1"`` -> {"train": 0.8, ...}; ratios must sum to 1."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"--split: {name!r} is not a split name (a lowercase letter, then up to 11 "
                "lowercase letters or digits)"
            )
        try:
            ratio = float(value)
        except ValueError:
            raise ValueError(f"--split: {part!r} is not NAME=RATIO") from None
        if not 0 < ratio <= 1 or name in out:
            raise ValueError(f"--split: {part!r}: each name once, with a ratio in (0, 1]")
        out[name] = ratio
    if not out or abs(sum(out.values()) - 1.0) > 1e-6:
        raise ValueError(f"--split: ratios {out} must sum to 1")
    return out


def units(
    sources: list[str], identities: list[list[int]], groups: list[str | None] | None = None
) -> np.ndarray:
    """Unit (component) id per sample, joining samples by source, identity and group."""
    n = len(sources)
    uf = UnionFind(n)
    codes = {s: i for i, s in enumerate(dict.fromkeys(sources))}
    uf.union_groups(np.array([codes[s] for s in sources], dtype=np.int64))
    owner = [i for i, ids in enumerate(identities) for _ in ids]
    ident = [c for ids in identities for c in ids]
    if ident:  # join the owners of each identity
        order = np.argsort(np.asarray(ident), kind="stable")
        ident_sorted = np.asarray(ident)[order]
        owners = np.asarray(owner)[order]
        same = ident_sorted[1:] == ident_sorted[:-1]
        uf.union(owners[1:][same], owners[:-1][same])
    if groups is not None:
        gcodes = {g: i for i, g in enumerate(dict.fromkeys(g for g in groups if g is not None))}
        uf.union_groups(np.array([gcodes.get(g, -1) for g in groups], dtype=np.int64))
    return uf.labels()


def assign(unit_of: np.ndarray, ratios: dict[str, float], seed: int = 0) -> list[str]:
    """A split per sample: whole units, largest first, each to the least-filled split."""
    names = list(ratios)
    sizes = np.bincount(unit_of) if len(unit_of) else np.zeros(0, dtype=np.int64)
    order = list(range(len(sizes)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda u: -sizes[u])  # stable: the shuffle orders units of equal size
    total = float(len(unit_of))
    filled = dict.fromkeys(names, 0)
    split_of_unit: dict[int, str] = {}
    for u in order:
        size = int(sizes[u])
        best = min(names, key=lambda s: (filled[s] + size) / (ratios[s] * total))
        split_of_unit[u] = best
        filled[best] += size
    return [split_of_unit[int(u)] for u in unit_of]


_LEAKS = """
with s as (select key, split, source_id, {group} as near_dup_group, identity_clusters from idx),
ids as (
    select key, split, unnest(from_json(identity_clusters, '["BIGINT"]')) as identity
    from s where identity_clusters is not null
),
bad_sources as (select source_id from s group by 1 having count(distinct split) > 1),
bad_ids as (select identity from ids group by 1 having count(distinct split) > 1),
bad_groups as (
    select near_dup_group from s where near_dup_group is not null
    group by 1 having count(distinct split) > 1
)
select
    (select count(*) from s where source_id in (select * from bad_sources)
        or near_dup_group in (select * from bad_groups)
        or key in (select key from ids where identity in (select * from bad_ids))) as samples,
    (select count(*) from bad_sources) as sources,
    (select count(*) from bad_ids) as identities,
    (select count(*) from bad_groups) as near_dup_groups
"""


def leakage(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Leaks in a written release (view ``idx``): samples whose source, identity or near-duplicate
    group is in more than one split, and how many sources, identities and groups leak."""
    cols = {r[0] for r in con.execute("describe idx").fetchall()}
    group = "near_dup_group" if "near_dup_group" in cols else "null::varchar"
    cur = con.execute(_LEAKS.format(group=group))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def distribution(con: duckdb.DuckDBPyConnection, label: str) -> list[dict[str, Any]]:
    """Samples per split and label (``label``: the column with the released label)."""
    cur = con.execute(
        f"""select split, coalesce({label}, '(none)') as label, count(*) as samples
            from idx group by all order by split, samples desc, label"""
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
