"""The release's sections of the dataset card: formats, splits, leakage, labels, duplicates."""

from __future__ import annotations

from emodata.exports.formats import split_path

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
    if not formats:
        return ""
    lines = [
        "\n## Formats\n",
        "The same reviewed samples in each trainer's format. Media paths are relative to the "
        "file that names them and point at `media/KEY.mp4` (clips copied once out of the "
        "shards). Record shapes: `schemas/exports/` in the emodata repository.\n",
    ]
    for name, counts in formats.items():
        if name == "media":
            lines.append(f"- media: {counts.get('mp4', 0)} clips, {counts.get('wav', 0)} WAVs")
            continue
        where = _FILES[name]
        if splits:
            where += f"; per split: `{split_path(name, splits[0], _example(name))}` ..."
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
