"""``emodata export``: a release with the reviewers' decisions applied.

Per sample, the decisions are resolved (:func:`emodata.review.decisions.resolve`); rejected
samples and unresolved conflicts are left out, corrected fields replace the model's in both the
sample JSON and the index, and the model's original values are kept under ``review.original``
(JSON member key ``review``, index column ``review``). Members are read by byte range from the
source shards and written by the project's shard writer, so the release has the same layout,
atomic shard/index pairs and card as a run. The whole release is built in a hidden sibling
folder and renamed into place at the end: a failed export leaves no half-written release.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec

from emodata import layout, report, stats, verify
from emodata.annotate.record import RationaleStep
from emodata.corrupt import CorruptState, read_json
from emodata.exports import answers, card, hub, plan
from emodata.exports.formats import WRITERS, FormatWriter, MediaWriter
from emodata.exports.labels import LabelError
from emodata.exports.plan import ReleaseOptions
from emodata.exports.webdataset import ReleaseWriter
from emodata.fsutil import remove_quietly
from emodata.lease import Lease, LeaseHeld
from emodata.lease import read as read_lease
from emodata.records import ClipRecord, Item
from emodata.review.agreement import agreement_report
from emodata.review.decisions import Resolution
from emodata.review.media import members_of, shard_url
from emodata.review.store import ReviewStore, store_path
from emodata.writable import file_in_the_way, not_a_folder, require_folder
from emodata.writer import LedgerBook

log = logging.getLogger(__name__)

_INDEX_FIELDS = {"label": "emotion_label", "valence": "valence", "arousal": "arousal"}


class ExportError(RuntimeError):
    """The release cannot be written as asked (destination exists, source missing)."""


@dataclass
class ExportResult:
    release: str
    counts: Counter = field(default_factory=Counter)
    agreement: dict[str, Any] = field(default_factory=dict)
    formats: dict[str, dict[str, int]] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"release": self.release, "counts": dict(self.counts), "agreement": self.agreement}
        for name in ("formats", "splits", "checks"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    def render(self) -> str:
        c = self.counts
        left_out = ", ".join(
            f"{v} {k.removeprefix('excluded_')}"
            for k, v in sorted(c.items())
            if k.startswith("excluded_")
        )
        kappa = self.agreement.get("fleiss")
        return (
            f"{c['exported']} samples exported to {self.release} ({c['accepted']} accepted, "
            f"{c['corrected']} corrected, {c['conflict']} conflicts resolved by majority, "
            f"{c['unreviewed']} unreviewed); left out: {left_out or 'none'}; Fleiss' kappa "
            f"{'n/a' if kappa is None else f'{kappa:.3f}'}\n"
            + "".join(
                f"{name}: {n.get('records', 0)} records of {n.get('samples', 0)} samples\n"
                for name, n in self.formats.items()
                if name != "media"
            )
            + card.summary_line(self.splits, self.checks)
            + f"card: {self.release}/{layout.CARD}"
        )


def apply_edits(record: ClipRecord, row: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """Apply a resolved correction to a sample's record and index row in place.

    Returns the model's original value of every field that changed.
    """
    tree = record.annotation
    original: dict[str, Any] = {}
    for name in ("label", "valence", "arousal"):
        if name in edits:
            column = _INDEX_FIELDS[name]
            original[name] = row.get(column) if tree is None else getattr(tree.emotion, name)
            row[column] = edits[name]
            if tree is not None:
                setattr(tree.emotion, name, edits[name])
    if "caption" in edits:
        original["caption"] = row.get("caption") if tree is None else tree.caption
        row["caption"] = edits["caption"]
        if tree is not None:
            tree.caption = edits["caption"]
    if tree is not None and "rationale" in edits:
        original["rationale"] = [s.to_dict() for s in tree.rationale]
        tree.rationale = [RationaleStep.from_dict(s) for s in edits["rationale"]]
    if tree is not None and "qa" in edits:
        original["qa"] = {}
        for idx, answer in edits["qa"].items():
            i = int(idx)
            if i < len(tree.qa):
                original["qa"][idx] = tree.qa[i].answer
                tree.qa[i].answer = answer
    return original


def provenance(res: Resolution, original: dict[str, Any], exported_at: str) -> dict[str, Any]:
    """A reviewed sample's review: who decided what, the model's values it replaced
    (``original``) and the values it set (``corrected``: also in the tree, where there is one)."""
    return {
        "status": res.status,
        "reviewers": res.reviewers,
        "decision_ids": res.decision_ids,
        "agreement": res.agreement,
        "edited": sorted(original),
        "original": original,
        "corrected": {k: res.edits[k] for k in sorted(original)},
        "exported_at": exported_at,
    }


def _shard_rows(out_dir: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Index rows shard by shard (one shard's rows in memory at a time), in member order.
    Close it when stopping early: that closes its DuckDB connection."""
    with stats.connect(out_dir) as con:
        shards = [r[0] for r in con.sql("select distinct shard from idx order by shard").fetchall()]
        for shard in shards:
            rows = con.sql("select * from idx where shard = $s", params={"s": shard})
            yield shard, sorted(rows.to_arrow_table().to_pylist(), key=_first_offset)


def _first_offset(row: dict[str, Any]) -> int:
    return min((v[0] for v in members_of(row).values()), default=0)


def export(
    out_dir: str,
    release: str,
    *,
    store: str | None = None,
    reviewed_only: bool = False,
    min_agreement: float | None = None,
    options: ReleaseOptions | None = None,
) -> ExportResult:
    """Write ``release`` from the run in ``out_dir`` and the decisions in its review store.

    The release is built in a hidden work folder next to it (``.NAME.tmp/release``) and renamed
    into place at the end; the work folder holds a lease (``emodata.lease``), so a second export
    to the same place stops and names the first, and a failed export leaves nothing visible.
    """
    options = options or ReleaseOptions()
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise ExportError("--min-agreement must be in [0, 1]")
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    rfs, rroot = fsspec.core.url_to_fs(release)
    rroot = rroot.rstrip("/")
    _check_destination(rfs, rroot, release)
    spath = store_path(out_dir, store)
    if not spath.exists():
        raise ExportError(f"no review store at {spath}: nothing has been reviewed yet")
    _check_shards(fs, root, out_dir)
    decisions = plan.grouped(ReviewStore(spath))
    if not stats.summary(out_dir)["clips"]["clips"]:
        raise ExportError(f"{out_dir} has no index rows")
    manifest = _read_manifest(fs, root, out_dir)
    try:
        chosen = plan.build(
            out_dir, decisions, options, reviewed_only=reviewed_only, min_agreement=min_agreement
        )
    except (LabelError, plan.WhereError) as e:
        raise ExportError(str(e)) from None
    head, name = rroot.rsplit("/", 1) if "/" in rroot else (".", rroot)
    work = f"{head}/{layout.tmp_name(name)}"
    require_folder(rfs, head, "the folder of --out")  # read-only, a file in the way
    now = datetime.now(UTC)
    run_id = f"release-{now:%Y%m%dT%H%M%SZ}"
    try:
        held = Lease(rfs, work, f"{run_id}-{secrets.token_hex(3)}").acquire()
    except LeaseHeld:
        holder = read_lease(rfs, work)
        who = holder.describe() if holder is not None else "another export"
        raise ExportError(
            f"{release} is being written by {who}: wait for it to end, or export to another --out"
        ) from None
    tmp_root = f"{work}/release"
    try:
        _check_destination(rfs, rroot, release)  # again, now that no other export can finish
        if rfs.exists(tmp_root):  # what a dead export left: its lease was stale
            rfs.rm(tmp_root, recursive=True)
        result = _build(out_dir, release, rfs, tmp_root, rroot, manifest, chosen, decisions,
                        options, now=now.isoformat(), run_id=run_id, reviewed_only=reviewed_only,
                        min_agreement=min_agreement)  # fmt: skip
    except BaseException:
        remove_quietly(rfs, tmp_root, recursive=True)  # nothing half-written stays behind
        raise
    finally:
        held.release()
        _remove_work(rfs, work)
    log.info("export: %s", dict(result.counts))
    return result


def _check_destination(fs: fsspec.AbstractFileSystem, root: str, release: str) -> None:
    in_the_way = file_in_the_way(fs, root)
    if in_the_way is not None:
        raise ExportError(not_a_folder("--out", release, in_the_way))
    if fs.exists(root) and fs.ls(root):
        raise ExportError(f"{release} exists and is not empty: choose a new release folder")


def _check_shards(fs: fsspec.AbstractFileSystem, root: str, out_dir: str) -> None:
    """Refuse a release that would silently lack samples: every shard the index names must be
    there with the size it was written with (one listing), every index fragment readable."""
    unreadable: list[CorruptState] = []
    problems = verify.size_problems(fs, root, verify.fragments(fs, root, unreadable))
    lines = [f"{e.path} is unreadable ({e.why})" for e in unreadable]
    lines += [p.line() for p in problems]
    if lines:
        more = f" and {len(lines) - 3} more" if len(lines) > 3 else ""
        raise ExportError(_damaged(out_dir, "; ".join(lines[:3]) + more))


def _remove_work(fs: fsspec.AbstractFileSystem, work: str) -> None:
    """Remove the (now empty) work folder; one that another export has taken stays."""
    for folder in (f"{work}/{layout.STATE}", work):
        try:
            fs.rmdir(folder)
        except OSError as e:  # not empty: another export's lease is in it
            log.debug("%s stays: %s", folder, e)
            return


def _build(
    out_dir: str,
    release: str,
    rfs: fsspec.AbstractFileSystem,
    tmp_root: str,
    rroot: str,
    manifest: dict[str, Any],
    chosen: plan.Plan,
    decisions: dict[str, Any],
    options: ReleaseOptions,
    *,
    now: str,
    run_id: str,
    reviewed_only: bool,
    min_agreement: float | None,
) -> ExportResult:
    """Write the release into ``tmp_root``, then rename it to ``rroot``."""
    writers = {  # one per split: the split names the shards (shard-000000-train.tar)
        s: _shard_writer(rfs, tmp_root, manifest, run_id if s is None else f"{run_id}-{s}")
        for s in chosen.split_names
    }
    formats: dict[str, FormatWriter] = {f: WRITERS[f](rfs, tmp_root) for f in options.text_formats}
    media = MediaWriter(rfs, tmp_root) if formats else None
    space = options.labels.labels if options.labels else _taxonomy(manifest)
    result = ExportResult(release)
    result.counts.update(chosen.counts)
    with contextlib.ExitStack() as stack:
        for writer in writers.values():  # a failed export leaves no open shard behind
            stack.push(writer.abort_on_error)
        for shard, shard_rows in stack.enter_context(contextlib.closing(_shard_rows(out_dir))):
            rows = [r for r in shard_rows if r["key"] in chosen.entries]
            if not rows:
                continue
            sfs, shard_path = shard_url(out_dir, shard)
            with _source_shard(sfs, shard_path, out_dir) as fh:
                for row in rows:
                    entry = chosen.entries[row["key"]]
                    item = _release_item(fh, row, entry, now, out_dir)
                    if media is not None:
                        media.add(item.key, item.blobs)
                    label = entry.export_label if options.labels else row.get("emotion_label")
                    rendered = answers.render(item.record, row, label, space)
                    writers[entry.split].rows_by_key[item.key] = row
                    writers[entry.split].add(item)
                    for fmt in formats.values():
                        fmt.add(rendered, entry.split)
                    result.counts["exported"] += 1
                    result.counts[entry.res.status] += 1
        for writer in writers.values():
            writer.close()
    result.formats = {name: fmt.close() for name, fmt in formats.items()}
    if media is not None:
        result.formats["media"] = dict(media.counts)
    all_decisions = [d for ds in decisions.values() for d in ds]
    result.agreement = agreement_report(all_decisions, chosen.model_labels)
    manifest["release"] = {
        "source": out_dir,
        "exported_at": now,
        "reviewed_only": reviewed_only,
        "min_agreement": min_agreement,
        "formats": options.formats,
        "label_space": options.labels.describe() if options.labels else None,
        "where": options.where,
    }
    sections = review_section(result, reviewed_only, min_agreement)
    sections += card.release_sections(result, chosen, options, manifest, _as_url(rfs, tmp_root))
    # a split no unit landed in has no files: the hub configs and file lists leave it out
    split_names = [s for s in chosen.split_names if s and result.splits.get(s, 1)]
    sections += card.formats_section(result.formats, split_names)
    configs = hub.configs(split_names, {name: f.paths for name, f in formats.items()})
    _finish(rfs, tmp_root, rroot, manifest, result, now, sections, configs)
    return result


def _shard_writer(
    fs: fsspec.AbstractFileSystem, root: str, manifest: dict[str, Any], run_id: str
) -> ReleaseWriter:
    write_cfg = (manifest.get("config") or {}).get("write") or {}
    return ReleaseWriter(
        fs,
        root,
        first_seq=0,
        max_bytes=int(write_cfg.get("max_shard_bytes", 256 << 20)),
        max_samples=int(write_cfg.get("max_shard_samples", 2000)),
        include_frames=True,
        run_id=run_id,
        config_fingerprint="release",
        ledger=LedgerBook({}, run_id),
    )


def _taxonomy(manifest: dict[str, Any]) -> list[str]:
    """The run's label set (its annotate taxonomy), named in the emotion prompts."""
    from emodata.annotate.settings import DEFAULT_TAXONOMY

    annotate = (manifest.get("config") or {}).get("annotate") or {}
    return list(annotate.get("taxonomy") or DEFAULT_TAXONOMY)


@contextlib.contextmanager
def _source_shard(fs: fsspec.AbstractFileSystem, path: str, out_dir: str) -> Iterator[Any]:
    """The run's shard, open for reading; gone since the check: the same advice."""
    try:
        fh = fs.open(path, "rb")
    except FileNotFoundError:
        raise ExportError(_damaged(out_dir, f"{path} is missing")) from None
    with fh:
        yield fh


def _damaged(out_dir: str, what: str) -> str:
    return (
        f"{out_dir} is damaged: {what}. The release would lack samples: run `emodata verify "
        f"{out_dir}`, rerun `emodata run` into it to redo them, then export again"
    )


def _release_item(fh: Any, row: dict[str, Any], entry: plan.Entry, now: str, out_dir: str) -> Item:
    """The sample's item for the shard writer: its record as the run wrote it, with the review
    applied and the release's fields set (in the record and in the index row)."""
    res = entry.res
    key = row["key"]
    blobs: dict[str, bytes] = {}
    doc: dict[str, Any] = {}
    for name, (offset, size) in sorted(members_of(row).items(), key=lambda kv: kv[1][0]):
        fh.seek(offset)
        data = fh.read(size)
        if len(data) != size:
            raise ExportError(_damaged(out_dir, f"{row['shard']} is cut short at {name}"))
        if name == f"{key}.json":
            try:
                doc = json.loads(data)
            except ValueError as e:
                what = f"{row['shard']}: {name} is not JSON ({e})"
                raise ExportError(_damaged(out_dir, what)) from None
        else:
            blobs[name.removeprefix(f"{key}.")] = data
    record = ClipRecord.from_dict(doc)
    original = apply_edits(record, row, res.edits) if res.edits else {}
    review = provenance(res, original, now) if res.reviewed else None
    release: dict[str, Any] = {"review": review} if review else {}
    row["review"] = json.dumps(review, sort_keys=True) if review else None
    if entry.near_dup_group is not None:
        release["near_dup_group"] = row["near_dup_group"] = entry.near_dup_group
    if entry.export_label is not None:
        release["export_label"] = row["export_label"] = entry.export_label
    if entry.split is not None:
        release["split"] = row["split"] = entry.split
        release["identity_clusters"] = entry.identities
        row["identity_clusters"] = json.dumps(entry.identities)
    record.release = release or None
    return Item(key, record, blobs)


def _read_manifest(fs: fsspec.AbstractFileSystem, root: str, out_dir: str) -> dict[str, Any]:
    path = f"{root}/{layout.MANIFEST}"
    if not fs.exists(path):
        raise ExportError(f"{path} is missing: is this a run's output folder?")
    try:
        return read_json(fs, path)
    except CorruptState as e:
        raise ExportError(
            f"{path} is unreadable ({e.why}): rerun `emodata run` into {out_dir} (it sets the "
            "file aside and writes a new one), then export again"
        ) from None


def _finish(
    fs: fsspec.AbstractFileSystem,
    tmp_root: str,
    root: str,
    manifest: dict[str, Any],
    result: ExportResult,
    now: str,
    sections: str,
    configs: list[dict[str, Any]],
) -> None:
    """Manifest and card (the Hub's front matter with ``configs``, then the run's card, then
    the release's ``sections``) into the temporary folder, then rename it to the release."""
    manifest = copy.deepcopy(manifest)
    manifest["updated_at"] = now
    manifest["release"].update(
        counts=dict(result.counts), agreement=result.agreement, outputs=result.formats
    )
    _atomic(fs, f"{tmp_root}/{layout.MANIFEST}", json.dumps(manifest, indent=2, default=str))
    summary = stats.summary(_as_url(fs, tmp_root))
    report.write_card(fs, tmp_root, manifest, summary)
    with fs.open(f"{tmp_root}/{layout.CARD}", "r", encoding="utf-8") as f:
        text = f.read()
    head = hub.front_matter(summary, result.counts["exported"], configs)
    _atomic(fs, f"{tmp_root}/{layout.CARD}", head + text.replace(tmp_root, root) + sections)
    if fs.exists(root):
        fs.rm(root, recursive=True)  # an empty folder the user made for the release
    fs.mv(tmp_root, root, recursive=True)


def _as_url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return path if fs.protocol in ("file", ("file", "local")) else fs.unstrip_protocol(path)


def _atomic(fs: fsspec.AbstractFileSystem, path: str, text: str) -> None:
    head, name = path.rsplit("/", 1)
    tmp = f"{head}/{layout.tmp_name(name)}"
    with fs.open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    fs.mv(tmp, path)


def review_section(result: ExportResult, reviewed_only: bool, min_agreement: float | None) -> str:
    c = result.counts
    a = result.agreement
    kappa = "n/a" if a.get("fleiss") is None else f"{a['fleiss']:.3f}"
    lines = [
        "\n## Human review\n",
        f"Released with reviews applied (reviewed only: {reviewed_only}, minimum agreement: "
        f"{min_agreement if min_agreement is not None else 'none'}).\n",
        f"- {c['exported']} samples released: {c['accepted']} accepted, {c['corrected']} "
        f"corrected, {c['conflict']} with disagreeing reviewers (resolved by majority), "
        f"{c['unreviewed']} not reviewed.",
        f"- Left out: {c['excluded_rejected']} rejected, {c['excluded_unresolved_conflict']} "
        f"unresolved conflicts, {c['excluded_unreviewed']} unreviewed, "
        f"{c['excluded_critic_rejected']} unreviewed with a tree the critic rejected, "
        f"{c['excluded_below_min_agreement']} below the agreement threshold.",
        f"- Agreement: Fleiss' kappa {kappa} over {a.get('items_multi', 0)} samples with two "
        f"or more reviewers.",
        "- Corrected fields replace the model's; the originals are kept in the sample JSON and "
        "the index column `review` (`review.original`).\n",
    ]
    if c["excluded_unsafe_path"]:
        lines.insert(
            4,
            f"- Left out: {c['excluded_unsafe_path']} whose index row names a path outside the "
            "run (a damaged or edited index; those files were not read).",
        )
    return "\n".join(lines)
