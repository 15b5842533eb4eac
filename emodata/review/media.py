"""Read one sample's members out of its shard by byte range, never scanning the shard.

The index stores, for every member, its data offset and size inside the tar
(``shard_members``), so a clip is one ranged read: a local ``seek`` + ``read`` or one HTTP range
request on object stores (fsspec ``cat_file``). The app plays a clip from a shard of gigabytes
in the time it takes to read the clip itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import fsspec

from emodata import layout

log = logging.getLogger(__name__)


def members_of(row: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``shard_members`` of an index row -> {member name: (offset, size)}."""
    raw = row.get("shard_members") or "{}"
    return {name: (int(v[0]), int(v[1])) for name, v in json.loads(raw).items()}


def shard_url(out_dir: str, shard: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of a shard an index row names; :class:`~emodata.layout.UnsafePath`
    when the name leads outside the run's ``shards/`` (the file is then never opened)."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    return fs, layout.shard_path(fs, root, shard)


def unsafe_rows(out_dir: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> why, for the rows whose ``shard`` leads outside the run's ``shards/``."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    why: dict[str, str | None] = {}  # per distinct shard name: rows share a few thousand names
    for shard in {row["shard"] for row in rows}:
        try:
            layout.shard_path(fs, root, shard)
            why[shard] = None
        except layout.UnsafePath as e:
            why[shard] = str(e)
    return {
        row["key"]: f"index row of sample {row['key']}: shard {why[row['shard']]}"
        for row in rows
        if why[row["shard"]] is not None
    }


def confined(out_dir: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` without those whose shard leads outside the run's ``shards/`` (each logged)."""
    bad = unsafe_rows(out_dir, rows)
    for why in bad.values():
        log.warning("left out: %s (the index is damaged or was edited)", why)
    return [r for r in rows if r["key"] not in bad]


def read_range(fs: fsspec.AbstractFileSystem, path: str, offset: int, size: int) -> bytes:
    """Exactly ``size`` bytes at ``offset``; a short read means the shard is not what the index
    describes, which is an error, not an empty clip."""
    data = fs.cat_file(path, start=offset, end=offset + size)
    if len(data) != size:
        raise OSError(f"{path}: read {len(data)} of {size} bytes at offset {offset}")
    return data


def read_members(
    out_dir: str, row: dict[str, Any], names: list[str] | None = None
) -> dict[str, bytes]:
    """The named members (all when ``names`` is None) of the sample in ``row``."""
    members = members_of(row)
    wanted = list(members) if names is None else [n for n in names if n in members]
    fs, path = shard_url(out_dir, row["shard"])
    return {n: read_range(fs, path, *members[n]) for n in wanted}


def data_url(data: bytes, mime: str) -> str:
    """``data:`` URL of ``data``: the review app inlines clips and face crops in the page it
    sends to an authorised session, so no separate URL (Streamlit's ``/media``) ever serves a
    sample's media without the access token."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def sample_version(json_bytes: bytes) -> str:
    """The version a decision is based on: a hash of the sample's JSON member as written."""
    return hashlib.sha256(json_bytes).hexdigest()[:16]


@dataclass
class SampleMedia:
    """What the sample page needs from the shard; every part may be missing."""

    key: str
    doc: dict[str, Any]
    version: str
    mp4: bytes | None = None
    wav: bytes | None = None
    faces: dict[str, bytes] = field(default_factory=dict)


def load_sample(out_dir: str, row: dict[str, Any], *, max_faces: int = 12) -> SampleMedia:
    """JSON, clip, audio and aligned face crops of one sample, each by its own ranged read."""
    key = row["key"]
    members = members_of(row)
    json_name = f"{key}.json"
    if json_name not in members:
        raise OSError(f"sample {key}: no JSON member in {row['shard']}")
    faces = sorted(n for n in members if n.startswith(f"{key}.face") and n.endswith(".jpg"))
    names = [json_name, f"{key}.mp4", f"{key}.wav", *faces[:max_faces]]
    data = read_members(out_dir, row, names)
    raw = data.pop(json_name)
    return SampleMedia(
        key=key,
        doc=json.loads(raw),
        version=sample_version(raw),
        mp4=data.pop(f"{key}.mp4", None),
        wav=data.pop(f"{key}.wav", None),
        faces={n.removeprefix(f"{key}."): data[n] for n in faces[:max_faces] if n in data},
    )
