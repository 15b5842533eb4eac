"""The clip stages a run composes, each declared once.

A :class:`StageSpec` says everything the runner needs to know about a stage that works on clips
between segment and write: its config section, what must be installed (with the ``pip install``
line that fixes it), the checks to run before any work, the index columns it fills, its
row-level expectation suite, where it goes in the pipeline and how to build it. The runner
composes the stages named in ``--stages`` from here; nothing else lists them.

The built-in stages (transcribe, faces, cues, annotate) register in ``emodata.stages.builtin``.
A stage from elsewhere registers by being imported: name its module in the run config's
``plugins`` list, or publish it under the ``emodata.stages`` entry point group. See
``docs/extending.md``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from emodata.errors import ConfigError
from emodata.stages.base import Stage

#: index column types a stage may declare (the index schema's scalar types)
COLUMN_TYPES = ("string", "int32", "int64", "float64", "bool")


@dataclass(frozen=True)
class Requirement:
    """A module a stage (or a backend) imports, and the extra that installs it."""

    module: str
    extra: str

    def missing(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is None
        except (ImportError, ValueError):
            return True


def check_requirements(who: str, requires: tuple[Requirement, ...]) -> None:
    """A ConfigError saying what ``who`` lacks and the ``pip install`` line that fixes it."""
    missing = [r for r in requires if r.missing()]
    if missing:
        extras = ",".join(sorted({r.extra for r in missing}))
        modules = ", ".join(r.module for r in missing)
        raise ConfigError(f"{who} needs {modules}: pip install 'emodata[{extras}]'")


@dataclass(frozen=True)
class RunContext:
    """What building a stage may need beyond the config: the annotate backend, prepared on the
    driver (a local LLM server started, models resolved)."""

    llm: Any = None  # emodata.annotate.session.AnnotateSession
    remote_timeout_s: float = 30.0


@dataclass(frozen=True)
class StageSpec:
    name: str
    #: builds the stage from its config section (``None`` without one) and the whole run config
    build: Callable[[Any, Any, RunContext], Stage | None]
    #: the section's model; plugin stages bring their own, built-ins live in ``RunConfig``
    config: type[BaseModel] | None = None
    requires: tuple[Requirement, ...] = ()
    #: checks before any work (model files present, a backend installed); raise ConfigError
    preflight: Callable[[Any], None] | None = None
    #: (column, type) pairs the stage fills in the index; built-ins are in index.schema.json
    index_columns: tuple[tuple[str, str], ...] = ()
    #: a row-level expectation suite (JSON file) checked on each clip the stage produced
    suite: Path | None = None
    #: place among the clip stages: transcribe 10, faces 20, cues 30, annotate 40
    rank: float = 35.0
    builtin: bool = False

    def check_installed(self) -> None:
        check_requirements(f"stage {self.name}", self.requires)

    def suite_spec(self) -> dict[str, Any] | None:
        """The suite as data (it travels to the workers with the run, not as a path)."""
        if self.suite is None:
            return None
        spec = json.loads(Path(self.suite).read_text(encoding="utf-8"))
        if spec.get("level") != "row" or spec.get("boundary") != self.name:
            raise ConfigError(
                f"stage {self.name}: its suite {self.suite} must be level 'row' with boundary "
                f"'{self.name}'"
            )
        return spec


_REGISTRY: dict[str, StageSpec] = {}
_entry_points_loaded = False


def register(spec: StageSpec) -> StageSpec:
    """Add a stage; registering the same name twice is an error unless it is the same spec
    (a module imported again)."""
    from emodata.config import KNOWN_STAGES

    known = _REGISTRY.get(spec.name)
    if known is not None and known != spec and known.build is not spec.build:
        raise ConfigError(f"stage {spec.name!r} is registered twice")
    if not spec.builtin and spec.name in KNOWN_STAGES:
        raise ConfigError(f"stage {spec.name!r} is a built-in stage's name; choose another")
    for column, kind in spec.index_columns:
        if kind not in COLUMN_TYPES:
            raise ConfigError(
                f"stage {spec.name}: index column {column} has type {kind!r}; "
                f"one of {', '.join(COLUMN_TYPES)}"
            )
    _REGISTRY[spec.name] = spec
    return spec


def import_plugins(modules: list[str]) -> None:
    """Import the modules a config names under ``plugins`` (each registers its stages)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(
                f"plugins: cannot import {name!r} ({e}); is it installed, or on PYTHONPATH?"
            ) from None


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    importlib.import_module("emodata.stages.builtin")
    for ep in entry_points(group="emodata.stages"):
        try:
            ep.load()
        except ImportError as e:
            raise ConfigError(f"entry point emodata.stages:{ep.name} cannot be loaded: {e}") from e


def get(name: str) -> StageSpec | None:
    _load_entry_points()
    return _REGISTRY.get(name)


def names() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].rank, n))


def clip_stages(stages: list[str]) -> list[StageSpec]:
    """The registered stages among ``stages``, in pipeline order."""
    _load_entry_points()
    return sorted(
        (_REGISTRY[s] for s in stages if s in _REGISTRY), key=lambda spec: (spec.rank, spec.name)
    )


def plugin_sections() -> dict[str, type[BaseModel]]:
    """Config sections plugin stages bring: section name -> model."""
    _load_entry_points()
    return {n: s.config for n, s in _REGISTRY.items() if s.config is not None and not s.builtin}


def index_columns(stages: list[str]) -> list[tuple[str, str]]:
    """Index columns the plugin stages among ``stages`` add to index.schema.json's."""
    return [col for spec in clip_stages(stages) if not spec.builtin for col in spec.index_columns]


def suites(stages: list[str]) -> list[dict[str, Any]]:
    """The row-level suites the plugin stages among ``stages`` bring."""
    specs = (spec.suite_spec() for spec in clip_stages(stages) if not spec.builtin)
    return [s for s in specs if s is not None]
