"""Class-balanced sampling for training (``emodata.loader.dataset(..., balance="label")``).

Every class is drawn equally often: an epoch is ``classes x largest class`` draws, in rounds
that visit each class once (in a seeded random order per round). Within a class, draws walk a
seeded shuffle of its samples and reshuffle when it runs out, so a small class repeats (drawing
with replacement across passes) while the largest is seen once per epoch. Every position of the
sequence is computed from ``seed`` alone, so it is reproducible and a ``DataLoader``'s workers
can read any part of it: this is a map-style dataset (``len``, ``[i]``). Samples are read by
byte range from their shard (the index's ``shard_members``), not by scanning shards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from emodata import stats
from emodata.review.media import confined, read_members

#: ``balance="label"`` balances the released label: ``export_label`` when the export mapped
#: labels (--labels), else ``emotion_label``
LABEL = "label"


def _class_expr(columns: set[str], balance: str) -> str:
    if balance == LABEL:
        return (
            "coalesce(export_label, emotion_label)"
            if "export_label" in columns
            else ("emotion_label")
        )
    if balance not in columns:
        raise ValueError(
            f"balance={balance!r}: not an index column; use 'label', 'source_dataset' or another "
            "column of the index"
        )
    return f'"{balance}"'


class BalancedSamples:
    """A map-style dataset of ``len(classes) x largest class`` class-balanced draws."""

    def __init__(
        self,
        out_dir: str,
        select: str,
        balance: str,
        *,
        seed: int = 0,
        split: str | None = None,
        to_sample: Callable[[dict[str, Any]], dict[str, Any]],
        transform: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        with stats.connect(out_dir) as con:
            columns = {r[0] for r in con.execute("describe idx").fetchall()}
            if split is not None and "split" not in columns:
                raise ValueError(f"{out_dir} has no splits: export it with --split")
            cls = _class_expr(columns, balance)
            sql = (
                f"select key, shard, shard_members, {cls} as class from idx "
                f"where key in (select key from ({select})) and {cls} is not null"
                + (" and split = $split" if split is not None else "")
                + " order by class, key"
            )
            rows = con.execute(sql, {"split": split} if split is not None else None).fetchall()
            self.out_dir, self.seed = out_dir, seed
            self.to_sample, self.transform = to_sample, transform
            self.rows: dict[str, list[dict[str, Any]]] = {}
            found = [{"key": k, "shard": s, "shard_members": m, "class": c} for k, s, m, c in rows]
            for row in confined(out_dir, found):
                self.rows.setdefault(str(row.pop("class")), []).append(row)
            self.classes = sorted(self.rows)
            self.largest = max((len(v) for v in self.rows.values()), default=0)

    def __len__(self) -> int:
        return len(self.classes) * self.largest

    def draw(self, i: int) -> tuple[str, dict[str, Any]]:
        """(class, index row) of the ``i``-th draw."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        n = len(self.classes)
        round_, slot = divmod(i, n)
        order = np.random.default_rng([self.seed, 0, round_]).permutation(n)
        c = int(order[slot])
        label = self.classes[c]
        pool = self.rows[label]
        cycle, at = divmod(round_, len(pool))  # the round-th draw of this class
        shuffled = np.random.default_rng([self.seed, 1, c, cycle]).permutation(len(pool))
        return label, pool[int(shuffled[at])]

    def __getitem__(self, i: int) -> Any:
        _, row = self.draw(i)
        data = read_members(self.out_dir, row)
        key = row["key"]
        raw: dict[str, Any] = {"__key__": key}
        for name, blob in data.items():
            field = name.removeprefix(f"{key}.")
            if field != "images.tar":  # a release lists its nested images one by one too
                raw[field] = blob
        sample = self.to_sample(raw)
        return self.transform(sample) if self.transform is not None else sample

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def counts(self) -> dict[str, int]:
        """Samples available per class (before balancing)."""
        return {c: len(v) for c, v in self.rows.items()}

    def __repr__(self) -> str:
        return f"BalancedSamples({json.dumps(self.counts())}, draws={len(self)})"
