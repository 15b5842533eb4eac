"""The stage abstraction every pipeline step implements.

A stage is a small class with declared resources, an optional ``setup()`` that loads models once
per worker (stages with one run as Ray actor pools, the others as tasks) and ``process()`` on a
batch of items. Stages never import Ray, so they run and test as plain Python.
"""

from __future__ import annotations

import logging
import traceback
from abc import ABC
from dataclasses import dataclass, field
from typing import ClassVar

from emodata.errors import ItemError, Reason
from emodata.records import Item

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)


class Stage(ABC):
    """Base class: subclasses set ``name`` and implement ``process_item`` (or ``process``)."""

    name: ClassVar[str]
    #: True for stages whose ``setup()`` loads something heavy: they run as an actor pool.
    stateful: ClassVar[bool] = False
    #: False for per-source stages (ingest, scene planning): their time is not a clip's time.
    timed: ClassVar[bool] = True
    resources: Resources = Resources()
    batch_size: int = 1
    #: Upper bound on parallel workers; None lets the adapter size it to the cluster.
    concurrency: int | None = None

    def say(self, text: str) -> None:  # noqa: B027 - the adapter points it at the run's view
        """A note on long work inside a batch, shown in the run's progress view."""

    def setup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Load models or open handles; runs once per worker, never on the driver."""

    def process(self, items: list[Item]) -> list[Item]:
        """Run ``process_item`` on each item; per-item problems become recorded outcomes."""
        out: list[Item] = []
        for item in items:
            if not item.ok:
                out.append(item)
                continue
            try:
                out.extend(self.process_item(item))
            except ItemError as e:
                out.append(item.fail_with(self.name, e))
            except Exception as e:  # a bug must not take the whole run down with one input
                log.error("stage %s failed on %s:\n%s", self.name, item.key, traceback.format_exc())
                out.append(item.fail(self.name, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}"))
        return out

    def process_item(self, item: Item) -> list[Item]:
        raise NotImplementedError(f"{type(self).__name__} must implement process_item or process")
