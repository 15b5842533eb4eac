"""validate: great_expectations checkpoints at stage boundaries and on the final index.

Suites are JSON files (``schemas/expectations/*.json`` plus ``validate.suites_dir``). Each names
its ``boundary`` ("write" for rows about to be written, "final" for the finished index; later
stages add their own) and its ``level``: a failed *row*-level expectation sends the failing rows
to the ledger and the run goes on; a failed *batch*-level one stops the run with a report.
Values like ``${segment.min_clip_s}`` are filled from the run config.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from emodata import layout
from emodata.records import ClipRecord
from emodata.schemas import index_schema, schemas_dir

log = logging.getLogger(__name__)

_VAR = re.compile(r"^\$\{([a-z_.]+)\}$")


@dataclass(frozen=True)
class Suite:
    name: str
    level: str
    boundary: str
    expectations: list[dict[str, Any]]


@dataclass
class Failure:
    suite: str
    expectation: str
    column: str | None
    rows: list[int]
    sample: list[Any]
    observed: Any = None


def load_suites(
    extra_dir: str | None = None, extra: list[dict[str, Any]] | None = None
) -> list[Suite]:
    """The packaged suites, those in ``extra_dir`` and ``extra`` ones given as data (plugin
    stages' suites, which travel to the workers with the run)."""
    paths = sorted((schemas_dir() / "expectations").glob("*.json"))
    if extra_dir:
        paths += sorted(Path(extra_dir).glob("*.json"))
    specs = [(str(p), json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    specs += [(f"suite {s.get('name')!r}", s) for s in extra or ()]
    suites = []
    for where, spec in specs:
        if spec.get("level") not in {"row", "batch"}:
            raise ValueError(f"{where}: level must be 'row' or 'batch'")
        suites.append(Suite(spec["name"], spec["level"], spec["boundary"], spec["expectations"]))
    return suites


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    if dotted == "index.columns":
        from emodata.stages import registry

        added = registry.index_columns(config.get("stages") or [])
        return index_schema().names + [name for name, _ in added]
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _resolve(spec: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    kwargs = {}
    for k, v in spec["kwargs"].items():
        m = _VAR.match(v) if isinstance(v, str) else None
        kwargs[k] = _lookup(config, m.group(1)) if m else v
    tol = spec.get("tolerance")
    if tol:
        if kwargs.get("min_value") is not None:
            kwargs["min_value"] = kwargs["min_value"] - tol
        if kwargs.get("max_value") is not None:
            kwargs["max_value"] = kwargs["max_value"] + tol
    return kwargs


def row_view(key: str, record: ClipRecord) -> dict[str, Any]:
    """A flat row for row-level suites: the record's index columns, plugin stages' scalar
    fields, and facts derived from nested outputs (first and last word times, word order,
    media lengths) that expectations can check."""
    from emodata.projection import index_fields

    fields = {**index_fields(record), **record.extra}
    row = {"key": key, **{k: v for k, v in fields.items() if not isinstance(v, dict | list)}}
    clip = record.clip
    measured = [clip.video_duration_s, clip.audio_duration_s]
    if clip.duration_s is not None and any(m is not None for m in measured):
        # how far the clip's MP4 video and WAV are from the clip's own length
        row["media_duration_gap_s"] = max(
            abs(m - clip.duration_s) for m in measured if m is not None
        )
    t = record.transcript
    if t is not None:
        words = t.words
        row["asr_first_word_s"] = min((w.start for w in words), default=None)
        row["asr_last_word_end_s"] = max((w.end for w in words), default=None)
        row["asr_words_ordered"] = all(a.start <= b.start for a, b in itertools.pairwise(words))
    return row


def _columns(spec: dict[str, Any]) -> list[str]:
    kw = spec["kwargs"]
    return [kw[k] for k in ("column", "column_A", "column_B") if k in kw]


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


class Checkpoints:
    """One ephemeral great_expectations context with every suite, built once per process."""

    def __init__(
        self,
        config: dict[str, Any],
        extra_dir: str | None = None,
        extra: list[dict[str, Any]] | None = None,
    ) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("great_expectations."):
                logging.getLogger(name).setLevel(logging.WARNING)
        self._gx = gx
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        asset = self.ctx.data_sources.add_pandas("emodata").add_dataframe_asset(name="frame")
        self._batch = asset.add_batch_definition_whole_dataframe("whole")
        self.suites: dict[str, tuple[Suite, Any]] = {}
        for suite in load_suites(extra_dir, extra):
            gsuite = self.ctx.suites.add(gx.ExpectationSuite(name=suite.name))
            for spec in suite.expectations:
                cls = getattr(gx.expectations, _class_name(spec["type"]), None)
                if cls is None:
                    raise ValueError(f"suite {suite.name}: unknown expectation {spec['type']}")
                gsuite.add_expectation(cls(**_resolve(spec, config)))
            definition = self.ctx.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=self._batch, suite=gsuite)
            )
            self.suites[suite.name] = (suite, definition)

    def boundary(self, name: str) -> list[Suite]:
        return [s for s, _ in self.suites.values() if s.boundary == name]

    def run(self, suite_name: str, frame: pd.DataFrame) -> list[Failure]:
        suite, definition = self.suites[suite_name]
        present = [
            s
            for s in suite.expectations
            if "column" not in s["kwargs"] or s["kwargs"]["column"] in frame.columns
        ]
        if not present:
            return []
        result = definition.run(
            batch_parameters={"dataframe": frame.reset_index(drop=True)},
            result_format={"result_format": "COMPLETE"},
        )
        failures = []
        for r in result.results:
            if r.success:
                continue
            res = r.result or {}
            failures.append(
                Failure(
                    suite=suite.name,
                    expectation=r.expectation_config.type,
                    column=r.expectation_config.kwargs.get("column"),
                    rows=list(res.get("unexpected_index_list") or []),
                    sample=list(res.get("partial_unexpected_list") or [])[:10],
                    observed=res.get("observed_value")
                    or (
                        str(r.exception_info) if r.exception_info.get("raised_exception") else None
                    ),
                )
            )
        return failures

    def check_rows(self, boundary: str, frame: pd.DataFrame) -> dict[int, str]:
        """Row-level suites for ``boundary``: position in ``frame`` -> why it failed."""
        bad: dict[int, str] = {}
        for suite in self.boundary(boundary):
            if suite.level != "row":
                continue
            for f in self.run(suite.name, frame):
                for i in f.rows:
                    value = frame.iloc[i][f.column] if f.column in frame.columns else None
                    bad.setdefault(i, f"{f.suite}: {f.expectation}({f.column}) got {value!r}")
        return bad

    def check_batch(self, boundary: str, frame: pd.DataFrame) -> list[Failure]:
        out: list[Failure] = []
        for suite in self.boundary(boundary):
            out.extend(self.run(suite.name, frame))
        return out


def write_report(failures: list[Failure], rows: int, fs: Any, root: str) -> None:
    """A readable Markdown report (DIR/validation_report.md) and the same facts as JSON."""
    lines = [
        "# Validation failed",
        "",
        f"{len(failures)} expectation(s) failed on {rows} index row(s).",
        "",
        "| suite | expectation | column | failing rows | examples / observed |",
        "|---|---|---|---|---|",
    ]
    for f in failures:
        shown = f.sample if f.sample else f.observed
        lines.append(
            f"| {f.suite} | {f.expectation} | {f.column or ''} | {len(f.rows)} | {shown!s:.200} |"
        )
    with fs.open(f"{root}/{layout.VALIDATION_REPORT}", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with fs.open(f"{root}/{layout.VALIDATION_JSON}", "w", encoding="utf-8") as f:
        f.write(json.dumps([x.__dict__ for x in failures], indent=2, default=str))
