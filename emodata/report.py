"""manifest.json, the dataset card (DIR/README.md) and the one-screen end-of-run summary."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from typing import Any

import fsspec

from emodata import __version__, corrupt, layout
from emodata.fsutil import write_atomic
from emodata.media import ffmpeg_version

_LIBS = ("ray", "pyarrow", "webdataset", "great-expectations", "duckdb", "numpy", "pydantic")


def versions() -> dict[str, str]:
    out = {
        "emodata": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for lib in _LIBS:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    out["ffmpeg"] = ffmpeg_version()
    return out


def write_manifest(
    fs: fsspec.AbstractFileSystem,
    root: str,
    run: dict[str, Any],
    config: dict[str, Any],
    totals: dict[str, Any],
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Rewrite manifest.json, keeping the history of earlier runs in ``runs``.

    ``earlier``: the runs to keep when there is no manifest.json (it was unreadable and set
    aside at the start); one found unreadable now is set aside here, not fatal after the work.
    """
    path = f"{root}/{layout.MANIFEST}"
    runs = corrupt.manifest_runs(fs, root) if fs.exists(path) else list(earlier or [])
    runs = [r for r in runs if r.get("run_id") != run["run_id"]] + [run]
    manifest = {
        "format": "emodata/1",
        "config": config,
        "versions": versions(),
        "started_at": runs[0]["started_at"],
        "updated_at": run["ended_at"],
        "totals": totals,
        "runs": runs,
    }
    _atomic_text(fs, path, json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest


def _atomic_text(fs: fsspec.AbstractFileSystem, path: str, text: str) -> None:
    write_atomic(fs, path, text.encode("utf-8"))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as a Markdown table (``_none_`` when there are none)."""
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def write_card(
    fs: fsspec.AbstractFileSystem, root: str, manifest: dict[str, Any], summary: dict[str, Any]
) -> None:
    c = summary["clips"]
    cfg = manifest["config"]
    seg = cfg["segment"]
    text = f"""# Dataset card

Built by emodata {manifest["versions"]["emodata"]} (runs: {len(manifest["runs"])}, last updated
{manifest["updated_at"]}).

## Contents
- **{c["clips"]} clips** from **{c["sources"]} source videos**, {c["clip_seconds"] / 3600:.3f} hours
  in total (mean clip {c["mean_clip_s"]:.2f} s), in **{c["shards"]} WebDataset shards**
  ({c["bytes"] / 1e6:.1f} MB).
- {c["video_only_clips"]} clip(s) have no audio (video-only sources are kept and marked
  `has_audio = false`).
- Clips: H.264 yuv420p MP4, short side at most {seg["short_side"]} px, {seg["fps"]} fps; audio
  16 kHz mono WAV; frames sampled at {seg["frame_rate"]} per second; clip length
  {seg["min_clip_s"]}-{seg["max_clip_s"]} s, cut at scene changes (FFmpeg scene score >
  {seg["scene_threshold"]}).

## Provenance and licences
Per source dataset and licence, as given in the input manifest:

{markdown_table(summary["datasets"])}
## Filtered and failed inputs
From the ledger (`failures/*.parquet`), latest attempt per entry:

{markdown_table(summary["ledger"])}
{quality_section(summary.get("quality"))}## Layout
- `shards/shard-NNNNNN-TAG.tar` (TAG: the writing run's tag): members `KEY.json` (metadata),
  `KEY.mp4`, `KEY.wav`, `KEY.frameNNN.jpg`.
- `index/shard-NNNNNN-TAG.parquet`: one row per clip (schema `emodata.index`), `key` is the
  WebDataset `__key__`.
- `failures/*.parquet`: the ledger. `manifest.json`: config, versions, runs.

## Loading
```python
from emodata.loader import dataloader
loader = dataloader("{root}", query="duration_s > 2", batch_size=8)
```
"""
    _atomic_text(fs, f"{root}/{layout.CARD}", text)


def quality_section(q: dict[str, Any] | None) -> str:
    """The card's "Annotation quality" section (emodata.quality), or "" when nothing was
    annotated."""
    if not q:
        return ""
    k, m, a = q["kept"], q["modalities"], q["agreement"]
    kept = k["accepted"] + k["revised"]
    lines = [
        "## Annotation quality",
        f"- kept (accepted or revised): **{kept} of {k['annotated']}** "
        f"({k['kept_share']:.0%}); {k['accepted']} accepted, {k['revised']} revised, "
        f"{k['rejected']} rejected.",
    ]
    if m["conflict_share"] is not None:
        lines.append(
            f"- modality conflict (face, voice, words disagree): {m['conflicts']} of "
            f"{m['clips_with_summary']} clips ({m['conflict_share']:.0%})."
        )
    if m["measured_share"] is not None:
        lines.append(
            f"- tree fields measured: {m['fields_measured']}, written by a model: "
            f"{m['fields_model']} ({m['measured_share']:.0%} measured)."
        )
    if a:
        lines.append(
            f"- agreement with the manifest's `label` on {a['clips']} clips: accuracy "
            f"{a['accuracy']:.3f}, macro-F1 {a['macro_f1']:.3f}"
            + (
                f" ({a['mapped_labels']} manifest labels mapped from another taxonomy by "
                "`ingest.label_map`; originals in `source_meta.label_original`)."
                if a.get("mapped_labels")
                else "."
            )
        )
    text = "\n".join(lines) + "\n\nVerdicts by reason (check id of each revision request or "
    text += "rejection):\n\n" + markdown_table(q["verdicts"])
    text += "\nPass rate of each critic check (all critic rounds):\n\n"
    text += markdown_table(q["checks"])
    text += "\nLabels:\n\n" + markdown_table(q["labels"])
    if a:
        text += "\nConfusion (rows: manifest label, columns: annotated label):\n\n"
        text += markdown_table(a["confusion"])
    return text + "\n"


def render_summary(root: str, summary: dict[str, Any], run: dict[str, Any]) -> str:
    c = summary["clips"]
    n = run["counts"]
    lines = [
        "",
        f"emodata run {run['run_id']} finished in {run['wall_seconds']:.1f}s",
        f"  output     {root}",
        f"  this run   {n['inputs']} inputs, {n['written']} clips written, "
        f"{n['skipped_done']} already done, {n['ledger_rows']} new ledger rows",
        f"  dataset    {c['clips']} clips from {c['sources']} sources, "
        f"{c['clip_seconds'] / 60:.1f} min, {c['shards']} shards, {c['bytes'] / 1e6:.1f} MB",
    ]
    rows_skipped = n.get("manifest_rows_skipped") or {}
    if rows_skipped:
        lines.append(
            f"  manifest   {n['manifest_rows']} rows: {n['inputs']} inputs"
            + "".join(f", {k} {r} (ledgered)" for r, k in rows_skipped.items())
        )
    skipped = n.get("skipped_by_extension") or {}
    if skipped:
        lines.append(
            f"  not media  {sum(skipped.values())} file(s) in the input folder skipped: "
            + ", ".join(f"{ext}={k}" for ext, k in skipped.items())
        )
    if summary["ledger"]:
        lines.append(
            "  ledger     "
            + ", ".join(f"{r['stage']}/{r['reason']}={r['n']}" for r in summary["ledger"])
        )
    lines += [
        f"  card       {root}/{layout.CARD}",
        f"  inspect    emodata stats {root}  |  emodata failures {root}",
        "",
    ]
    return "\n".join(lines)
