"""Stream a run's shards into PyTorch, optionally selecting samples with a DuckDB query.

    from emodata.loader import dataloader
    for batch in dataloader("out/", query="has_audio and duration_s > 3", batch_size=8):
        batch["key"], batch["meta"], batch["audio"], batch["mp4"]

Only shards that hold selected samples are opened. Requires ``emodata[train]`` (torch).
``split=`` keeps one split of a release; ``balance="label"`` draws every class equally often.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from typing import Any

import fsspec
import numpy as np
import webdataset as wds

from emodata import layout, stats
from emodata.balanced import BalancedSamples
from emodata.media import wav_to_float32
from emodata.projection import index_fields
from emodata.records import ClipRecord
from emodata.review.media import confined
from emodata.stats import select_sql


def _fsspec_open(url: str, mode: str = "rb", bufsize: int = 8192, **_: Any):
    """webdataset opener for object stores (s3://, gcs://...) through fsspec."""
    return fsspec.open(url, mode).open()


_gopen = importlib.import_module("webdataset.gopen")
for _scheme in ("s3", "s3a", "gcs", "abfs", "az"):
    _gopen.gopen_schemes.setdefault(_scheme, _fsspec_open)


def _rows(out_dir: str, query: str | None, split: str | None) -> list[dict[str, Any]]:
    with stats.connect(out_dir) as con:
        sql = select_sql(query)
        if split is None:
            cur = con.execute(sql + " order by shard, key")
        else:
            columns = {r[0] for r in con.execute("describe idx").fetchall()}
            if "split" not in columns:
                raise ValueError(f"{out_dir} has no splits: export it with --split")
            cur = con.execute(
                f"select * from ({sql}) where key in (select key from idx where split = $split) "
                "order by shard, key",
                {"split": split},
            )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def select(
    out_dir: str, query: str | None = None, split: str | None = None
) -> tuple[list[str], set[str]]:
    """(shard URLs in order, selected keys) for ``query`` (a WHERE clause or a SELECT of keys),
    within ``split`` when given (a release exported with ``--split``)."""
    rows = confined(out_dir, _rows(out_dir, query, split))
    fs, root = fsspec.core.url_to_fs(out_dir)
    paths = [layout.shard_path(fs, root, s) for s in sorted({r["shard"] for r in rows})]
    urls = [fs.unstrip_protocol(p) if "://" in out_dir else p for p in paths]
    return urls, {r["key"] for r in rows}


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    """A sample's ``meta``: its record as the shard holds it (key, source, clip, transcript,
    faces, cues, annotation, outcome, members; a release's review and split), with the index's
    columns alongside, computed from it (``emotion_label``, ``has_audio``, ``split``...)."""
    record = ClipRecord.from_dict(doc)
    return {**index_fields(record, release=record.release is not None), **doc}


def to_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw WebDataset sample -> key, metadata, audio array, MP4 bytes, frame and aligned face
    JPEG bytes (a release keeps its images in one ``images.tar`` member: unpacked here)."""
    if "images.tar" in raw:
        from emodata.exports.webdataset import unpack

        prefix = f"{raw['__key__']}."
        nested = {k.removeprefix(prefix): v for k, v in unpack(raw["images.tar"]).items()}
        raw = {**{k: v for k, v in raw.items() if k != "images.tar"}, **nested}
    meta = _meta(json.loads(raw["json"]))
    frames = [raw[k] for k in sorted(raw) if k.startswith("frame") and k.endswith(".jpg")]
    return {
        "key": raw["__key__"],
        "meta": meta,
        "mp4": raw.get("mp4", b""),
        "audio": wav_to_float32(raw["wav"]) if "wav" in raw else np.zeros(0, np.float32),
        "frames": frames,
        "faces": [raw[k] for k in sorted(raw) if k.startswith("face") and k.endswith(".jpg")],
    }


def dataset(
    out_dir: str,
    query: str | None = None,
    *,
    split: str | None = None,
    shuffle: int = 0,
    transform: Callable[[dict[str, Any]], Any] | None = None,
    balance: str | None = None,
    seed: int = 0,
) -> wds.WebDataset | BalancedSamples:
    """An iterable WebDataset over the selected samples (split across DataLoader workers);
    ``split`` keeps one split of a release exported with ``--split``.

    ``balance="label"`` (the released label) or ``"source_dataset"`` (or any index column)
    gives instead a map-style :class:`~emodata.balanced.BalancedSamples`: every class drawn
    equally often, small classes repeating, in an order fixed by ``seed``; samples whose class
    is null are left out."""
    if balance is not None:
        return BalancedSamples(out_dir, select_sql(query), balance, seed=seed, split=split,
                               to_sample=to_sample, transform=transform)  # fmt: skip
    urls, keys = select(out_dir, query, split)
    ds = wds.WebDataset(
        urls or [], shardshuffle=False, empty_check=False, nodesplitter=wds.split_by_node
    )
    ds = ds.select(lambda s: s["__key__"] in keys)
    if shuffle:
        ds = ds.shuffle(shuffle)
    ds = ds.map(to_sample)
    if transform is not None:
        ds = ds.map(transform)
    return ds


def collate(samples: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Keep variable-length fields as lists; stack nothing that differs in shape."""
    out: dict[str, list[Any]] = {}
    for s in samples:
        for k, v in s.items():
            out.setdefault(k, []).append(v)
    return out


def dataloader(
    out_dir: str,
    query: str | None = None,
    *,
    split: str | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    shuffle: int = 0,
    transform: Callable[[dict[str, Any]], Any] | None = None,
    balance: str | None = None,
    seed: int = 0,
):
    """A torch DataLoader over :func:`dataset`; batches are dicts of lists (see :func:`collate`)."""
    try:
        from torch.utils.data import DataLoader
    except ImportError as e:
        raise ImportError("the loader needs torch: install emodata[train]") from e
    ds = dataset(out_dir, query, split=split, shuffle=shuffle, transform=transform,
                 balance=balance, seed=seed)  # fmt: skip
    return DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=collate)
