"""Trainers' formats of a release: ms-swift JSONL, LLaVA and ShareGPT JSON, MERR, EMER CSV.

Each writer receives one :class:`~emodata.exports.answers.Rendered` sample at a time and streams
it to its files under ``RELEASE/<format>/`` (JSON lists are opened with ``[`` and closed at the
end, so no format holds the release in memory). Media paths point at ``RELEASE/media/KEY.mp4``,
relative to where each recipe resolves them (:func:`media_path`). With splits, each split has
its own files (named in :func:`split_path`). Record shapes are in ``schemas/exports/``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import fsspec

from emodata import layout
from emodata.exports.answers import KINDS, Rendered

TEXT_FORMATS = ("swift", "llava", "sharegpt", "merr", "emer")
FORMATS = ("webdataset", *TEXT_FORMATS)
SWIFT_SOURCE = {"attribute": "QA_Attribute", "caption": "Caption", "emotion": "Emotion",
                "qa": "QA", "rationale": "Rationale"}  # fmt: skip
EMER_COLUMNS = ("name", "subtitle", "reason", "openset")
MEDIA = "media"


def parse_formats(text: str | None) -> list[str]:
    """``"webdataset,swift"`` -> ["webdataset", "swift"]; unknown names are an error."""
    names = list(dict.fromkeys(s.strip() for s in (text or "webdataset").split(",") if s.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format(s) {unknown or names}; known: {', '.join(FORMATS)}")
    return names


def split_path(fmt: str, split: str | None, name: str | None = None) -> str:
    """Where a format's file for ``split`` goes, relative to the release."""
    if fmt == "swift":  # one file per kind
        return f"swift/{name}.jsonl" if split is None else f"swift/{split}/{name}.jsonl"
    if fmt == "merr":  # Emotion-LLaMA reads these two names
        return f"merr/{name}" if split is None else f"merr/{split}/{name}"
    ext = {"llava": "json", "sharegpt": "json", "emer": "csv"}[fmt]
    return f"{fmt}/{fmt}.{ext}" if split is None else f"{fmt}/{split}.{ext}"


def media_path(from_file: str | None, key: str, ext: str = "mp4") -> str:
    """``media/KEY.mp4`` relative to the release (``from_file`` None), or to the folder of
    ``from_file`` (a release-relative path).

    ms-swift opens a relative path from the working directory or ``ROOT_IMAGE_DIR``, and LLaVA
    joins it to ``--video_folder``: both take release-relative paths. LLaMA-Factory joins it to
    ``media_dir``, by default the folder of ``dataset_info.json``: relative to the file."""
    return "../" * (from_file or "").count("/") + f"{MEDIA}/{key}.{ext}"


class _Files:
    """Open text files of one format in the release's temporary folder, created on first use."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs, self.root = fs, root
        self.handles: dict[str, Any] = {}
        self.items: Counter = Counter()

    def get(self, rel: str, head: str = "") -> Any:
        if rel not in self.handles:
            path = f"{self.root}/{rel}"
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.handles[rel] = self.fs.open(path, "w", encoding="utf-8", newline="")
            self.handles[rel].write(head)
        return self.handles[rel]

    def list_item(self, rel: str, text: str, open_: str = "[\n") -> None:
        """Append one element to a JSON list (or object) being streamed to ``rel``."""
        fh = self.get(rel, open_)
        fh.write((",\n" if self.items[rel] else "") + text)
        self.items[rel] += 1

    def close(self, tails: dict[str, str] | None = None) -> None:
        for rel, fh in self.handles.items():
            fh.write((tails or {}).get(rel, ""))
            fh.close()
        self.handles = {}


class FormatWriter:
    """Base: counts samples, records and skips; subclasses write records."""

    name = ""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.files = _Files(fs, root)
        self.counts: Counter = Counter()
        self.paths: dict[str | None, set[str]] = {}  # split -> files written

    def add(self, r: Rendered, split: str | None) -> None:
        self.counts["samples"] += 1
        if split is not None:
            self.counts[f"samples_{split}"] += 1
        self.write(r, split)

    def write(self, r: Rendered, split: str | None) -> None:
        raise NotImplementedError

    def _path(self, split: str | None, name: str | None = None) -> str:
        rel = split_path(self.name, split, name)
        self.paths.setdefault(split, set()).add(rel)
        return rel

    def close(self) -> dict[str, int]:
        self.files.close({rel: "\n]\n" for rel in self.files.items})
        return {k: v for k, v in self.counts.items() if v}


def _turns(r: Rendered) -> list[tuple[str, str]]:
    """(prompt, answer) pairs of the multi-turn formats: emotion, rationale, caption, then QA."""
    turns = []
    for kind, answer in (("emotion", r.emotion), ("rationale", r.rationale),
                         ("caption", r.caption)):  # fmt: skip
        if answer:
            turns.append((r.ask(kind), answer))
    turns += [(r.ask("qa", question=q), a) for q, a in r.qa]
    return turns


class SwiftWriter(FormatWriter):
    """ms-swift: one JSONL per kind, one line per sample (per QA pair for ``qa``)."""

    name = "swift"

    def write(self, r: Rendered, split: str | None) -> None:
        answers: dict[str, list[tuple[str, str]]] = {
            "attribute": [(r.ask("attribute"), r.attribute)] if r.attribute else [],
            "caption": [(r.ask("caption"), r.caption)] if r.caption else [],
            "emotion": [(r.ask("emotion"), r.emotion)] if r.emotion else [],
            "qa": [(r.ask("qa", question=q), a) for q, a in r.qa],
            "rationale": [(r.ask("rationale"), r.rationale)] if r.rationale else [],
        }
        for kind in KINDS:
            if not answers[kind]:
                self.counts[f"skipped_{kind}"] += 1
                continue
            rel = self._path(split, kind)
            fh = self.files.get(rel)
            for question, answer in answers[kind]:
                line = {
                    "messages": [
                        {"role": "user", "content": f"<video>{question}"},
                        {"role": "assistant", "content": answer},
                    ],
                    "videos": [media_path(None, r.key)],
                    "source": SWIFT_SOURCE[kind],
                    "id": r.key,
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.counts["records"] += 1
                self.counts[f"records_{kind}"] += 1

    def close(self) -> dict[str, int]:
        self.files.close()
        return {k: v for k, v in self.counts.items() if v}


class LlavaWriter(FormatWriter):
    """LLaVA: one JSON list of multi-turn conversations, ``<video>`` in the first human turn."""

    name = "llava"

    def write(self, r: Rendered, split: str | None) -> None:
        rel = self._path(split)
        conv = []
        for i, (question, answer) in enumerate(_turns(r)):
            conv.append({"from": "human", "value": f"<video>\n{question}" if i == 0 else question})
            conv.append({"from": "gpt", "value": answer})
        item = {"id": r.key, "video": media_path(None, r.key), "conversations": conv}
        self.files.list_item(rel, json.dumps(item, ensure_ascii=False))
        self.counts["records"] += 1


class ShareGPTWriter(FormatWriter):
    """LLaMA-Factory's sharegpt formatting, plus the ``dataset_info.json`` that declares it."""

    name = "sharegpt"

    def write(self, r: Rendered, split: str | None) -> None:
        rel = self._path(split)
        conv = []
        for i, (question, answer) in enumerate(_turns(r)):
            conv.append({"from": "human", "value": f"<video>{question}" if i == 0 else question})
            conv.append({"from": "gpt", "value": answer})
        item = {"conversations": conv, "videos": [media_path(rel, r.key)]}
        self.files.list_item(rel, json.dumps(item, ensure_ascii=False))
        self.counts["records"] += 1

    def close(self) -> dict[str, int]:
        info = {}
        for split, rels in sorted(self.paths.items(), key=lambda kv: kv[0] or ""):
            for rel in sorted(rels):
                info["emodata" if split is None else f"emodata_{split}"] = {
                    "file_name": rel.split("/", 1)[1],
                    "formatting": "sharegpt",
                    "columns": {"messages": "conversations", "videos": "videos"},
                    "tags": {"role_tag": "from", "content_tag": "value",
                             "user_tag": "human", "assistant_tag": "gpt"},
                }  # fmt: skip
        fh = self.files.get("sharegpt/dataset_info.json")
        fh.write(json.dumps(info, indent=2) + "\n")
        self.files.close({rel: "\n]\n" for rel in self.files.items})
        return {k: v for k, v in self.counts.items() if v}


class MerrWriter(FormatWriter):
    """Emotion-LLaMA's MERR fine-grained annotations (JSON by key) and its ``KEY N LABEL`` list.

    No action units are measured: ``AU_list`` and ``peak_AU_list`` are always empty.
    """

    name = "merr"

    def write(self, r: Rendered, split: str | None) -> None:
        record = {
            "AU_list": [],
            "visual_prior_list": r.visual_priors,
            "audio_prior_list": r.audio_prior,
            "peak_index": r.peak_index,
            "peak_AU_list": [],
            "text": r.transcript,
            "pseu_emotion": r.label,
            "smp_reason_caption": r.reason,
        }
        rel = self._path(split, "MERR_fine_grained.json")
        self.files.list_item(rel, f"{json.dumps(r.key)}: {json.dumps(record)}", "{\n")
        txt = self.files.get(self._path(split, "MERR_fine_grained.txt"))
        txt.write(f"{r.key} {r.frame_count} {r.label}\n")
        self.counts["records"] += 1

    def close(self) -> dict[str, int]:
        self.files.close({rel: "\n}\n" for rel in self.files.items})
        return {k: v for k, v in self.counts.items() if v}


class EmerWriter(FormatWriter):
    """AffectGPT/EMER-style CSV: name, subtitle, reason, openset (label and terms)."""

    name = "emer"

    def write(self, r: Rendered, split: str | None) -> None:
        rel = self._path(split)
        head = io.StringIO()
        csv.writer(head).writerow(EMER_COLUMNS)
        fh = self.files.get(rel, head.getvalue())
        line = io.StringIO()
        csv.writer(line).writerow([r.key, r.transcript, r.reason, ", ".join(r.terms)])
        fh.write(line.getvalue())
        self.counts["records"] += 1

    def close(self) -> dict[str, int]:
        self.files.close()
        return {k: v for k, v in self.counts.items() if v}


WRITERS: dict[str, type[FormatWriter]] = {
    w.name: w for w in (SwiftWriter, LlavaWriter, ShareGPTWriter, MerrWriter, EmerWriter)
}


class MediaWriter:
    """Clips (and their audio) copied once out of the shards to ``RELEASE/media/``."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs, self.folder = fs, f"{root}/{MEDIA}"
        fs.makedirs(self.folder, exist_ok=True)
        self.counts: Counter = Counter()

    def add(self, key: str, blobs: dict[str, bytes]) -> None:
        for ext in ("mp4", "wav"):
            if blobs.get(ext):  # the plan left out keys that lead elsewhere: this never raises
                path = layout.inside(self.folder, f"{key}.{ext}", local=layout.is_local(self.fs))
                with self.fs.open(path, "wb") as f:
                    f.write(blobs[ext])
                self.counts[ext] += 1
