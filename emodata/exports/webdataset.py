"""The webdataset part of a release: shards every reader can load, Hugging Face's included.

Hugging Face's ``webdataset`` builder takes a dataset's columns from the first samples and
requires them all to have the same members, but a run's samples do not: the number of sampled
frames follows the clip's length, face crops the faces found, and a video-only clip has no WAV.
So each release sample has exactly four members: ``KEY.json``, ``KEY.mp4``, ``KEY.wav`` (an
empty WAV, zero samples, when the source had no audio; ``has_audio`` says so) and
``KEY.images.tar``, an uncompressed tar of the sampled frames and aligned face crops under their
usual names (``KEY.frame000.jpg``, ``KEY.face0_0.jpg``). Since tar members are stored
contiguously, the index's ``shard_members`` gives every nested image its absolute offset in
the shard too: ranged reads (the review app, :mod:`emodata.review.media`) and ``emodata verify``
work on a release as on a run, and :func:`emodata.loader.to_sample` unpacks the images.

The same builder infers the ``json`` column's nested types from those first samples, and a
field that is null or an empty list in all of them gets Arrow's null type, which no later value
fits (the load fails). The release's ``KEY.json`` therefore leaves out null values and empty
lists and objects (:func:`prune`): an absent key means null or empty. The one exception is a
review's ``original`` values, kept as they are (null there says the model had no value): a
release in which the first samples' originals are all null and a later one's is not (a
reviewer labelled clips the model had not) still trips the inference. Fields that none of the
first samples has are left out of Hugging Face's ``json`` column (its inference), not of the
file; emodata's readers see every field.

Release index rows are the run's rows plus the release columns of
``schemas/release.schema.json`` (``review``; ``split``, ``identity_clusters``, ``export_label``
and ``near_dup_group`` when the export asks for them).
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import numpy as np
import pyarrow as pa

from emodata import layout
from emodata.media import float32_to_wav
from emodata.records import Item
from emodata.schemas import release_schema
from emodata.writer import ShardWriter

IMAGES = "images.tar"
EMPTY_WAV = float32_to_wav(np.zeros(0, dtype=np.float32))
_BLOCK = tarfile.BLOCKSIZE


#: kept verbatim: the model's values a review replaced, where null means "the model had none"
VERBATIM = (("release", "review", "original"),)


def prune(value: Any, path: tuple[str, ...] = ()) -> Any:
    """``value`` without null values and empty lists or objects, recursively (list items stay
    in place: a null item inside a list is kept), except under the :data:`VERBATIM` paths."""
    if path in VERBATIM:
        return value
    if isinstance(value, dict):
        out = {k: prune(v, (*path, k)) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [prune(v, path) for v in value]
    return value


def pack(members: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """An uncompressed tar of ``members`` (no record padding) and each member's data offset."""
    buf = io.BytesIO()
    offsets: dict[str, tuple[int, int]] = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
            offsets[name] = (tar.offset - (-(-len(data) // _BLOCK) * _BLOCK), len(data))
        end = tar.offset
    return buf.getvalue()[: end + 2 * _BLOCK], offsets  # the end-of-archive marker, no padding


def unpack(data: bytes) -> dict[str, bytes]:
    """Member name -> bytes of a tar made by :func:`pack`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


class ReleaseWriter(ShardWriter):
    """The project's shard writer with the release's four members per sample, keeping each
    sample's original index row plus the release columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_by_key: dict[str, dict[str, Any]] = {}
        self._nested: dict[str, dict[str, tuple[int, int]]] = {}

    def _members(self, item: Item) -> list[tuple[str, bytes]]:
        (doc_name, doc_bytes), *rest = super()._members(item)
        doc = (doc_name, json.dumps(prune(json.loads(doc_bytes)), sort_keys=True).encode())
        images = [(n, d) for n, d in rest if n.endswith(".jpg")]
        media = dict((n, d) for n, d in rest if not n.endswith(".jpg"))
        media.setdefault(f"{item.key}.wav", EMPTY_WAV)
        packed, self._nested[item.key] = pack(images)
        return [doc, *sorted(media.items()), (f"{item.key}.{IMAGES}", packed)]

    def _index_row(self, item: Item, offsets: dict[str, list[int]], size: int) -> dict[str, Any]:
        start = offsets[f"{item.key}.{IMAGES}"][0]
        for name, (offset, length) in self._nested.pop(item.key).items():
            offsets[name] = [start + offset, length]
        row = self.rows_by_key.pop(item.key)
        row.update(
            shard=layout.shard_name(self.seq, self.tag),
            shard_members=json.dumps(offsets, sort_keys=True),
            sample_bytes=size,
        )
        return row

    def _write_parquet(self, table: pa.Table, sub: str, name: str) -> None:
        if sub == layout.INDEX:
            table = pa.Table.from_pylist(self._rows, schema=release_schema())
        super()._write_parquet(table, sub, name)
