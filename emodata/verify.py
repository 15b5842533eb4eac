"""Do the shards on disk hold what the index says? For resume, ``emodata verify`` and ``stats``.

Every index row stores its shard's name and, per member, the byte offset and size of the member's
data (``shard_members``). That is enough to know the exact size the shard had when it was written
(tar pads each member to 512 bytes and the archive to 10240) and where every member's header is.
Resume checks existence and size only (one listing); ``verify`` also reads each member's header.
"""

from __future__ import annotations

import json
import logging
import tarfile
from dataclasses import dataclass, field

import fsspec

from emodata import layout
from emodata.corrupt import CorruptState, read_parquet

log = logging.getLogger(__name__)

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def _padded(n: int) -> int:
    return -(-n // _BLOCK) * _BLOCK


def tar_size(members: list[tuple[int, int]]) -> int:
    """The size tarfile gives an archive whose members' data sit at these (offset, size)."""
    end = max((off + _padded(size) for off, size in members), default=0) + 2 * _BLOCK
    return -(-end // _RECORD) * _RECORD


@dataclass
class Fragment:
    """One index fragment and the shard it describes."""

    index_path: str
    shard: str
    keys: list[str] = field(default_factory=list)
    named: set[str] = field(default_factory=set)  # the rows' ``shard`` column
    members: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, size)

    @property
    def expected_bytes(self) -> int:
        return tar_size(list(self.members.values()))


@dataclass
class Problem:
    shard: str
    what: str
    clips: int | None  # None: not known (the index fragment cannot be read)
    index_path: str

    def line(self) -> str:
        where = (
            self.index_path if self.clips is None else f"{self.clips} clip(s) in {self.index_path}"
        )
        return f"{self.shard}: {self.what} ({where})"


def _ls(fs: fsspec.AbstractFileSystem, path: str) -> list[dict]:
    return fs.ls(path, detail=True) if fs.exists(path) else []


def fragments(
    fs: fsspec.AbstractFileSystem, root: str, unreadable: list[CorruptState] | None = None
) -> list[Fragment]:
    """Every index fragment; one that cannot be read raises CorruptState, or is put in
    ``unreadable`` when a list is given."""
    out = []
    for info in sorted(_ls(fs, f"{root}/{layout.INDEX}"), key=lambda i: i["name"]):
        p = info["name"]
        if layout.seq_of(p) is None or p.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        try:
            t = read_parquet(fs, p, ("key", "shard", "shard_members")).to_pydict()
        except CorruptState as e:
            if unreadable is None:
                raise
            unreadable.append(e)
            continue
        frag = Fragment(p, layout.shard_of_index(p))
        for key, shard, members in zip(t["key"], t["shard"], t["shard_members"], strict=True):
            frag.keys.append(key)
            frag.named.add(shard)
            for name, (off, size) in json.loads(members or "{}").items():
                frag.members[name] = (int(off), int(size))
        out.append(frag)
    return out


def shard_sizes(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, int]:
    """Name -> size of every finished shard (one listing)."""
    return {
        i["name"].rsplit("/", 1)[-1]: int(i.get("size") or 0)
        for i in _ls(fs, f"{root}/{layout.SHARDS}")
        if i["name"].endswith(".tar") and not i["name"].rsplit("/", 1)[-1].startswith(".")
    }


def size_problems(
    fs: fsspec.AbstractFileSystem, root: str, frags: list[Fragment] | None = None
) -> list[Problem]:
    """Shards that are missing, or whose size is not the size they were written with."""
    root = root.rstrip("/")
    sizes = shard_sizes(fs, root)
    problems = []
    for frag in fragments(fs, root) if frags is None else frags:
        size, want = sizes.get(frag.shard), frag.expected_bytes
        if size is None:
            what = "missing"
        elif size != want:
            what = f"{size} bytes, the index expects {want}"
        else:
            continue
        problems.append(Problem(frag.shard, what, len(frag.keys), frag.index_path))
    return problems


def header_problems(fs: fsspec.AbstractFileSystem, root: str, frag: Fragment) -> list[Problem]:
    """Read each member's tar header at its recorded offset: right name, right size."""
    bad: list[str] = []
    with fs.open(layout.shard_path(fs, root, frag.shard), "rb") as f:
        for name, (off, size) in sorted(frag.members.items(), key=lambda m: m[1][0]):
            if off < _BLOCK:  # an edited index: no room for the header in front of the data
                bad.append(f"{name}: offset {off} leaves no room for a tar header")
                continue
            f.seek(off - _BLOCK)
            buf = f.read(_BLOCK)
            try:
                info = tarfile.TarInfo.frombuf(buf, "utf-8", "surrogateescape")
            except tarfile.HeaderError as e:
                bad.append(f"{name}: no tar header at offset {off - _BLOCK} ({e})")
                continue
            if info.name != name or info.size != size:
                bad.append(f"{name}: header says {info.name} ({info.size} bytes)")
    return [Problem(frag.shard, why, len(frag.keys), frag.index_path) for why in bad]


@dataclass
class Report:
    shards: int
    clips: int
    problems: list[Problem]
    orphans: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.orphans

    def lines(self) -> list[str]:
        out = [p.line() for p in self.problems]
        out += [
            f"{o}: no index fragment (incomplete; the next run removes it)" for o in self.orphans
        ]
        broken = len({p.shard for p in self.problems})
        verdict = "OK" if self.ok else f"{broken} shard(s) broken, {len(self.orphans)} orphan(s)"
        out.append(f"{self.shards} shard(s), {self.clips} clip(s) checked: {verdict}")
        return out


def verify(out_dir: str) -> Report:
    """Every shard against the index: exists, has its written size, every member header readable."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    if not fs.isdir(root):
        raise FileNotFoundError(f"{out_dir} does not exist or is not a folder")
    unreadable: list[CorruptState] = []
    frags = fragments(fs, root, unreadable)
    problems = [
        Problem(
            layout.shard_of_index(e.path),
            f"its index fragment is unreadable ({e.why}); the next run sets it aside and redoes "
            "its clips",
            None,
            e.path,
        )
        for e in unreadable
    ]
    problems += size_problems(fs, root, frags)
    resized = {p.shard for p in problems}  # missing or cut: one line says it all
    for frag in frags:
        if frag.named - {frag.shard}:
            what = f"index rows name {sorted(frag.named - {frag.shard})}, not this shard"
            problems.append(Problem(frag.shard, what, len(frag.keys), frag.index_path))
        if frag.shard not in resized:
            problems += header_problems(fs, root, frag)
    indexed = {f.shard for f in frags} | {layout.shard_of_index(e.path) for e in unreadable}
    orphans = sorted(s for s in shard_sizes(fs, root) if s not in indexed)
    return Report(len(frags), sum(len(f.keys) for f in frags), problems, orphans)


def drop_broken(fs: fsspec.AbstractFileSystem, root: str) -> list[Problem]:
    """Set aside the index and ledger fragments of missing or resized shards, so a rerun redoes
    their clips. They move to ``_state/dropped/`` (kept for a post-mortem, never read again)."""
    root = root.rstrip("/")
    problems = size_problems(fs, root)
    for p in problems:
        log.warning("%s; its clips will be redone", p.line())
        set_aside_shard(fs, root, p.shard, p.index_path)
    return problems


def set_aside_shard(
    fs: fsspec.AbstractFileSystem, root: str, shard: str, index_path: str | None = None
) -> None:
    """Move a shard, its ledger fragment and (when given) its index fragment to
    ``_state/dropped/``: without its index fragment the shard's clips are redone, and without
    the ledger fragment written with it they are not ledgered twice."""
    root = root.rstrip("/")
    dropped = f"{root}/{layout.DROPPED}"
    fs.makedirs(dropped, exist_ok=True)
    moves = [
        (f"{root}/{layout.FAILURES}/{layout.ledger_of_shard(shard)}", None),
        (f"{root}/{layout.SHARDS}/{shard}", None),
    ]
    if index_path is not None:
        moves.insert(0, (index_path, f"{dropped}/index-{index_path.rsplit('/', 1)[-1]}"))
    for src, dest in moves:
        if fs.exists(src):
            fs.mv(src, dest or f"{dropped}/{src.rsplit('/', 1)[-1]}")
