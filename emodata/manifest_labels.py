"""A manifest's ``label`` column in another taxonomy, mapped into the run's (``ingest.label_map``).

A labelled corpus brings its own label names (MELD's ``joy``, CREMA-D's ``HAP``, MERR's
``worried``). ``ingest.label_map`` names a map from those to the run's taxonomy
(``annotate.taxonomy``), so the index column ``label`` and the agreement figures speak the run's
labels. Packaged maps live in ``schemas/input_label_maps/NAME.json`` (merr9, meld, cremad); any
JSON file with the same shape works: ``{"name": ..., "map": {"their label": "run label" | null}}``.
Keys match case- and space-insensitively. A ``null`` target marks a label with no counterpart:
the clip's ``label`` stays empty. The manifest's own value is kept in ``source_meta`` as
``label_original``.

A run stops before any work when the map targets a label the taxonomy lacks or the manifest uses
a label the map does not name: the message lists them, with counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from emodata.discover import SourceRef
from emodata.errors import ConfigError
from emodata.exports.labels import find_map, read_map
from emodata.exports.labels import known as known_maps

log = logging.getLogger(__name__)

FOLDER = "input_label_maps"


def known() -> list[str]:
    return known_maps(FOLDER)


def _norm(label: object) -> str:
    return str(label).strip().lower()


@dataclass(frozen=True)
class InputLabelMap:
    name: str
    source: str
    mapping: dict[str, str | None]

    def check(self, taxonomy: Iterable[str], labels: Counter[str]) -> None:
        """Targets must be run labels; every manifest label must be mapped."""
        stray = sorted({t for t in self.mapping.values() if t is not None} - set(taxonomy))
        if stray:
            raise ConfigError(
                f"ingest.label_map {self.name} ({self.source}): targets {stray} are not in "
                f"annotate.taxonomy {sorted(taxonomy)}"
            )
        missing = {lab: n for lab, n in labels.items() if lab not in self.mapping}
        if missing:
            named = ", ".join(
                f"{lab!r} ({n} row{'s' * (n != 1)})" for lab, n in sorted(missing.items())
            )
            raise ConfigError(
                f"ingest.label_map {self.name} ({self.source}) does not map the manifest labels "
                f"{named}; add them to a copy of the map (null for no counterpart) and pass "
                "its path"
            )


def load(spec: str) -> InputLabelMap:
    """A packaged map by name, or a JSON file by path."""
    path = find_map(spec, FOLDER)
    if path is None:
        raise ConfigError(
            f"ingest.label_map {spec!r}: no such map; packaged: {', '.join(known())}, "
            "or the path of a JSON file"
        )
    doc = read_map(path, "ingest.label_map", ConfigError)
    mapping = doc.get("map") if isinstance(doc, dict) else None
    if not isinstance(mapping, dict) or not all(
        (isinstance(v, str) and v) or v is None for v in mapping.values()
    ):
        raise ConfigError(
            f'ingest.label_map {path}: expected {{"map": {{label: run label or null}}}}'
        )
    return InputLabelMap(str(doc.get("name") or path.stem), str(path),
                         {_norm(k): v for k, v in mapping.items()})  # fmt: skip


def _label(ref: SourceRef) -> str | None:
    value = ref.meta.get("label")
    return None if value is None or not str(value).strip() else str(value)


def mapper(
    refs: Iterable[SourceRef], spec: str, taxonomy: Iterable[str]
) -> Callable[[SourceRef], SourceRef]:
    """Check the map against every manifest label of ``refs``; returns the function that puts
    one input's label in the run's taxonomy (the runner applies it a window at a time)."""
    lmap = load(spec)
    labels = Counter(_norm(lab) for r in refs if (lab := _label(r)))
    lmap.check(list(taxonomy), labels)
    mapped = sum(n for lab, n in labels.items() if lmap.mapping[lab] is not None)
    log.info(
        "manifest labels mapped by %s: %d into the run's taxonomy, %d with no counterpart",
        lmap.name, mapped, labels.total() - mapped,
    )  # fmt: skip

    def relabel(ref: SourceRef) -> SourceRef:
        original = _label(ref)
        if original is None:
            return ref
        target = lmap.mapping[_norm(original)]
        return SourceRef(
            ref.path, {**ref.meta, "label": target, "label_original": original}, ref.row
        )

    return relabel


def apply(refs: list[SourceRef], spec: str, taxonomy: Iterable[str]) -> list[SourceRef]:
    """``refs`` with each manifest label in the run's taxonomy (see the module docstring)."""
    relabel = mapper(refs, spec, taxonomy)
    return [relabel(r) for r in refs]
