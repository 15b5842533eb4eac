"""Label spaces: the run's labels mapped to a trainer's (``export --labels ekman7``).

A label space is a JSON file: ``schemas/exports/label_maps/NAME.json`` for the packaged ones
(ekman7, merr9, va_quadrants) or any path. A mapping space has ``labels`` (the targets) and
``map`` (source label -> target); a ``"from": "valence_arousal"`` space derives the label from
the sample's valence and arousal signs instead. The exported label goes to the formats and the
index column ``export_label``; the run's label stays in ``emotion_label``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emodata.schemas import schemas_dir

MAPS = "exports/label_maps"


class LabelError(ValueError):
    """A label space that cannot be used, or labels it does not map; the message names them."""


def known(folder: str = MAPS) -> list[str]:
    return sorted(p.stem for p in (schemas_dir() / folder).glob("*.json"))


def find_map(spec: str, folder: str = MAPS) -> Path | None:
    """A packaged map (``schemas/FOLDER/SPEC.json``), else the file ``spec``; None if neither.
    Export's label spaces and ingest's manifest maps are both found this way."""
    path = schemas_dir() / folder / f"{spec}.json"
    if path.is_file():
        return path
    path = Path(spec)
    return path if path.is_file() else None


def read_map(path: Path, option: str, error: type[Exception]) -> Any:
    """The JSON in a map file, or ``error`` naming ``option`` and the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{option} {path}: not a readable JSON file ({e})") from None


@dataclass
class LabelSpace:
    name: str
    labels: list[str]
    source: str
    mapping: dict[str, str] = field(default_factory=dict)
    from_va: bool = False
    neutral_radius: float = 0.1

    def apply(self, label: str | None, valence: float | None, arousal: float | None) -> str | None:
        """The exported label, or None when the sample has nothing to map (no label, no VA).

        Raises KeyError for a label the mapping does not name."""
        if self.from_va:
            if valence is None or arousal is None:
                return None
            if max(abs(valence), abs(arousal)) < self.neutral_radius:
                return "neutral"
            return ("HV" if valence >= 0 else "LV") + ("HA" if arousal >= 0 else "LA")
        if label is None:
            return None
        return self.mapping[label]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "labels": self.labels}


def load(spec: str) -> LabelSpace:
    """A packaged space by name, or a JSON file by path."""
    path = find_map(spec)
    if path is None:
        raise LabelError(
            f"--labels {spec!r}: unknown label set; known: {', '.join(known())}, "
            "or the path of a JSON mapping file"
        )
    spec_doc = read_map(path, "--labels", LabelError)
    if not isinstance(spec_doc, dict):
        raise LabelError(f"--labels {path}: expected a JSON object")
    if "map" not in spec_doc and "from" not in spec_doc:  # a plain {source: target} mapping
        spec_doc = {"map": spec_doc}
    return _space(spec_doc, path)


def _space(doc: dict[str, Any], path: Path) -> LabelSpace:
    name = str(doc.get("name") or path.stem)
    if doc.get("from") == "valence_arousal":
        labels = list(doc.get("labels") or ["HVHA", "HVLA", "LVHA", "LVLA", "neutral"])
        radius = float(doc.get("neutral_radius", 0.1))
        return LabelSpace(name, labels, str(path), from_va=True, neutral_radius=radius)
    if "from" in doc:
        raise LabelError(f"--labels {path}: 'from' can only be 'valence_arousal'")
    mapping = doc.get("map")
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items()
    ):
        raise LabelError(f"--labels {path}: 'map' must map label names to label names")
    labels = list(doc.get("labels") or dict.fromkeys(mapping.values()))
    stray = sorted(set(mapping.values()) - set(labels))
    if stray:
        raise LabelError(f"--labels {path}: targets {stray} are not in its 'labels' {labels}")
    return LabelSpace(name, labels, str(path), mapping=dict(mapping))


def check(space: LabelSpace, labels: Counter) -> None:
    """Every label in the release must be mapped; name the ones that are not."""
    if space.from_va:
        return
    missing = {lab: n for lab, n in labels.items() if lab is not None and lab not in space.mapping}
    if missing:
        named = ", ".join(f"{lab} ({n} samples)" for lab, n in sorted(missing.items()))
        raise LabelError(
            f"labels not mapped by label set {space.name} ({space.source}): {named}; map them "
            "in a JSON file and pass its path to --labels"
        )
