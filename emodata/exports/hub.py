"""The Hugging Face Hub's YAML front matter of a release's card, so pushing needs no editing.

``configs`` name the data files of each split: the webdataset shards (the ``default``
config; the shards of a split are named ``shard-NNNNNN-SPLIT.tar``), and the row-per-sample
text formats (one config per ms-swift kind, ``llava``, ``sharegpt``, ``emer``). MERR's JSON is
keyed by sample and is not a table: it has no config.
"""

from __future__ import annotations

from typing import Any

import yaml

#: the Hub's licence ids for the SPDX ids manifests commonly carry
_LICENSES = {"odbl-1.0": "odbl", "odbl": "odbl", "gpl-3.0": "gpl-3.0", "cc-by-4.0": "cc-by-4.0",
             "cc-by-sa-4.0": "cc-by-sa-4.0", "cc-by-nc-4.0": "cc-by-nc-4.0",
             "cc-by-nc-sa-4.0": "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0": "cc-by-nc-nd-4.0",
             "cc0-1.0": "cc0-1.0", "mit": "mit", "apache-2.0": "apache-2.0",
             "cc-by-3.0": "cc-by-3.0", "cc-by-nc-3.0": "cc-by-nc-3.0"}  # fmt: skip
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
          (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))  # fmt: skip
_TABLES = ("swift", "llava", "sharegpt", "emer")


def license_id(licenses: list[str | None]) -> str:
    """One Hub licence for the release: the sources' common one; ``other`` when they differ
    or one is not a Hub licence (the card's table lists them), ``unknown`` when none is given."""
    known = [lic for lic in licenses if lic and lic != "(unknown)"]
    if not known:
        return "unknown"
    ids = {_LICENSES.get(lic.strip().lower()) for lic in known}
    if len(known) < len(licenses) or None in ids or len(ids) > 1:
        return "other"
    return ids.pop() or "other"


def size_category(n: int) -> str:
    return next((name for limit, name in _SIZES if n < limit), "n>10M")


def configs(
    splits: list[str] | None, paths: dict[str, dict[str | None, set[str]]]
) -> list[dict[str, Any]]:
    """Hub ``configs``: the shards per split, then each text format's files per split."""
    names = splits or [None]
    out = [
        {
            "config_name": "default",
            "default": True,
            "data_files": [
                {"split": s or "train", "path": f"shards/*-{s}.tar" if s else "shards/*.tar"}
                for s in names
            ],
        }
    ]
    for fmt in _TABLES:
        by_config: dict[str, list[dict[str, str]]] = {}
        for split in names:  # in the order of --split
            for rel in sorted((paths.get(fmt) or {}).get(split) or ()):
                if not rel.endswith((".json", ".jsonl", ".csv")) or rel.endswith("_info.json"):
                    continue
                kind = rel.rsplit("/", 1)[1].split(".")[0]
                name = f"swift_{kind}" if fmt == "swift" else fmt
                by_config.setdefault(name, []).append({"split": split or "train", "path": rel})
        out += [{"config_name": k, "data_files": v} for k, v in sorted(by_config.items())]
    return out


def front_matter(summary: dict[str, Any], samples: int, config_list: list[dict[str, Any]]) -> str:
    meta = {
        "license": license_id([d["license"] for d in summary.get("datasets") or []]),
        "task_categories": ["video-classification", "visual-question-answering",
                            "video-text-to-text"],
        "size_categories": [size_category(samples)],
        "tags": ["emotion", "affective-computing", "video", "audio", "webdataset"],
        "configs": config_list,
    }  # fmt: skip
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n"
