"""The release's sections of the dataset card: formats, splits, leakage, labels, duplicates."""

from __future__ import annotations

from typing import Any

from emodata import stats
from emodata.exports import splits
from emodata.exports.formats import split_path
from emodata.report import markdown_table

_FILES = {
    "swift": "`swift/{kind}.jsonl` (ms-swift messages; kinds attribute, caption, emotion, qa, "
    "rationale)",
    "llava": "`llava/llava.json` (LLaVA conversations, `<video>` in the first human turn)",
    "sharegpt": "`sharegpt/sharegpt.json` and `sharegpt/dataset_info.json` (LLaMA-Factory)",
    "merr": "`merr/MERR_fine_grained.json` and `merr/MERR_fine_grained.txt` (Emotion-LLaMA; "
    "no action units are measured, `AU_list` and `peak_AU_list` are empty)",
    "emer": "`emer/emer.csv` (name, subtitle, reason, openset)",
}


def formats_section(formats: dict[str, dict[str, int]], splits: list[str] | None) -> str:
    lines = [
        "\n## Formats\n",
        "- webdataset: `shards/shard-NNNNNN-TAG.tar`"
        + (" (TAG: the split)" if splits else "")
        + "; every sample has the same four members, so Hugging Face's `webdataset` loader "
        "reads them all: `KEY.json` (the sample; null values and empty lists are left out, "
        "but for a review's `original` values), "
        "`KEY.mp4`, `KEY.wav` (empty when the source had no audio: `has_audio`), "
        "`KEY.images.tar` (sampled frames and aligned face crops, `KEY.frame000.jpg`, "
        "`KEY.face0_0.jpg`, addressable by their offsets in `shard_members`).",
    ]
    if formats:
        lines.append(
            "\nThe same reviewed samples in each trainer's format, naming the clips copied once "
            "out of the shards to `media/KEY.mp4`: swift and llava relative to this folder "
            "(ms-swift: run here or set `ROOT_IMAGE_DIR` to it; LLaVA: `--video_folder` it), "
            "sharegpt relative to `sharegpt/` (LLaMA-Factory's default `media_dir`). Record "
            "shapes: `schemas/exports/` in the emodata repository.\n"
        )
    for name, counts in formats.items():
        if name == "media":
            lines.append(f"- media: {counts.get('mp4', 0)} clips, {counts.get('wav', 0)} WAVs")
            continue
        where = _FILES[name]
        if splits:
            where += f"; this release is split: `{split_path(name, 'SPLIT', _example(name))}`"
        skipped = ", ".join(
            f"{k.removeprefix('skipped_')} {v}" for k, v in sorted(counts.items()) if "skip" in k
        )
        lines.append(
            f"- {name}: {counts.get('samples', 0)} samples, {counts.get('records', 0)} records "
            f"in {where}" + (f"; samples without content, per kind: {skipped}" if skipped else "")
        )
    return "\n".join(lines) + "\n"


def _example(fmt: str) -> str | None:
    return {"swift": "qa", "merr": "MERR_fine_grained.json"}.get(fmt)


def off_target(
    per_split: dict[str, int], ratios: dict[str, float], tolerance: float = 0.1
) -> dict[str, dict[str, float]]:
    """Splits that are empty or more than ``tolerance`` from their target share: units (a
    source, a person, a duplicate group) go whole, so few large units cannot be spread finer."""
    total = sum(per_split.values())
    out = {}
    for name, target in ratios.items():
        share = per_split.get(name, 0) / total if total else 0.0
        if per_split.get(name, 0) == 0 or abs(share - target) > tolerance:
            out[name] = {"share": round(share, 3), "target": target}
    return out


def summary_line(per_split: dict[str, int], checks: dict[str, Any]) -> str:
    """The CLI's lines on near-duplicates and splits: groups, sizes, identities, leakage."""
    out = ""
    nd = checks.get("near_dup")
    if nd:
        out += (
            f"near-duplicates: {nd['groups']} groups ({nd['clips_in_groups']} clips), "
            f"{nd['dropped']} left out\n"
        )
    if per_split:
        sizes = ", ".join(f"{k} {v}" for k, v in per_split.items())
        leak = checks.get("leakage", {}).get("samples")
        out += (
            f"splits: {sizes}; {checks.get('identity_clusters', 0)} identity clusters; "
            f"leakage: {leak} samples\n"
        )
    for name, off in (checks.get("off_target") or {}).items():
        out += (
            f"warning: split {name} holds {off['share']:.0%} of the samples (asked "
            f"{off['target']:.0%}): {checks.get('units', 0)} units (sources, people, duplicate "
            "groups) cannot be spread closer\n"
        )
    return out


def near_dup_section(counts: dict[str, int], options: Any) -> str:
    cfg = options.settings.near_dup
    kept = (
        f"`--dedup near` kept one clip per group (the longest, then the best critic verdict, "
        f"then the first key) and left out {counts['dropped']}."
        if options.dedup
        else "All are released; the index column `near_dup_group` names each clip's group, and "
        "no group spans two splits."
    )
    return "\n".join(
        [
            "\n## Near-duplicates\n",
            f"**{counts['groups']} groups** of near-duplicate clips ({counts['clips_in_groups']} "
            f"clips): at least {cfg.min_share:.0%} of the shorter clip's sampled frames within "
            f"{cfg.max_hamming} bits (64-bit dHash) of a frame of the other; "
            f"{counts['pairs_compared']} candidate pairs compared, signatures computed at "
            f"export for {counts['signatures_computed']} clips that predate them, "
            f"{counts['clips_without_signature']} clips without one (no sampled frames, or only "
            f"flat ones). {kept}\n",
        ]
    )


def splits_section(
    info: dict[str, Any],
    per_split: dict[str, int],
    leakage: dict[str, int],
    labels: list[dict[str, Any]],
) -> str:
    """Split sizes against their targets, identities, the leakage check and labels per split."""
    total = sum(per_split.values()) or 1
    ratios = info.get("split_ratios") or {}
    rows = [
        {"split": s, "samples": n, "share": f"{n / total:.1%}", "target": f"{ratios.get(s, 0):.1%}"}
        for s, n in per_split.items()
    ]
    verdict = "none" if leakage["samples"] == 0 else f"**{leakage['samples']} samples**"
    lines = [
        "\n## Splits\n",
        f"Seeded ({info.get('seed')}) and leak-free by construction: samples that share a source "
        "video, a person (face identity) or a near-duplicate group form one unit, and units go "
        f"to one split whole ({info.get('units', 0)} units; largest first, each to the split "
        "furthest below its target). Samples without a face are split by source.\n",
        markdown_table(rows),
        f"- Identity clusters: **{info.get('identity_clusters', 0)}** from "
        f"{info.get('tracks', 0)} face tracks with an embedding, in "
        f"{info.get('samples_with_faces', 0)} samples (tracks joined within the model's "
        "threshold; see `identity` settings).",
        f"- Leakage check (the release index re-read with DuckDB, independently of the "
        f"assignment): samples whose source, identity or near-duplicate group is in more than "
        f"one split: {verdict} ({leakage['sources']} sources, {leakage['identities']} "
        f"identities, {leakage['near_dup_groups']} groups).",
        "- The split of each sample is the index column `split` (and `split` in its JSON); "
        "webdataset shards are per split: `shards/shard-NNNNNN-SPLIT.tar`.\n",
        "Labels per split:\n",
        markdown_table(_pivot(labels, list(per_split))),
    ]
    return "\n".join(lines)


def _pivot(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """(split, label, samples) rows -> one row per label with a column per split."""
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        table.setdefault(r["label"], {"label": r["label"], **dict.fromkeys(names, 0)})
        table[r["label"]][r["split"]] = r["samples"]
    return sorted(table.values(), key=lambda r: (-sum(r[n] for n in names), r["label"]))


def labels_section(space: Any, pairs: list[dict[str, Any]]) -> str:
    """The label space the release was exported in, and how the run's labels map into it."""
    how = (
        f"from each sample's valence and arousal (neutral within {space.neutral_radius} of 0)"
        if space.from_va
        else "by its mapping"
    )
    return "\n".join(
        [
            "\n## Labels\n",
            f"Exported in the **{space.name}** label space ({', '.join(space.labels)}), {how}; "
            f"from `{space.source.rsplit('/', 1)[-1]}`. The formats carry the exported label; "
            "the index keeps the run's (reviewed) label in `emotion_label` and the exported "
            "one in `export_label`.\n",
            markdown_table(pairs),
        ]
    )


def where_section(where: str, left_out: int) -> str:
    return (
        "\n## Selection\n\n"
        f"Only samples the query `{where}` selects over the run's index (before review "
        f"corrections): {left_out} left out.\n"
    )


def release_sections(
    result: Any,
    chosen: Any,
    options: Any,
    manifest: dict[str, Any],
    written: str,
) -> str:
    """The card's sections on selection, duplicates, labels and splits (checked on the written
    index, ``written``), with their figures added to ``result`` and the manifest."""
    sections = ""
    if options.where:
        sections += where_section(options.where, result.counts["excluded_where"])
    if "near_dup" in chosen.info:
        result.checks["near_dup"] = chosen.info["near_dup"]
        manifest["release"]["dedup"] = options.dedup
        sections += near_dup_section(chosen.info["near_dup"], options)
    if not result.counts["exported"]:
        return sections  # an empty index has none of the release columns to check
    with stats.connect(written) as con:
        if options.labels:
            sections += labels_section(options.labels, _label_pairs(con))
        if options.split:
            sizes = dict(con.execute("select split, count(*) from idx group by 1").fetchall())
            result.splits = {s: sizes.get(s, 0) for s in options.split}  # --split's order
            result.checks.update(
                {k: chosen.info[k] for k in ("identity_clusters", "tracks", "units")},
                leakage=splits.leakage(con),
                off_target=off_target(result.splits, options.split),
            )
            manifest["release"].update(split=options.split, seed=options.seed)
            sections += splits_section(
                chosen.info, result.splits, result.checks["leakage"],
                splits.distribution(con, "export_label" if options.labels else "emotion_label"),
            )  # fmt: skip
        return sections


def _label_pairs(con: Any) -> list[dict[str, Any]]:
    cur = con.execute(
        """select coalesce(emotion_label, '(none)') as label,
                  coalesce(export_label, '(none)') as exported, count(*) as samples
           from idx group by all order by samples desc, label"""
    )
    return [dict(zip(("label", "exported", "samples"), r, strict=True)) for r in cur.fetchall()]
