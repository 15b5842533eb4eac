"""Maps stages onto Ray Data: stateless stages as tasks, stages with ``setup()`` as actor pools.

This is the only module (besides the runner's ``ray.init``) that knows about Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import ray
from ray.data import ActorPoolStrategy, Dataset, TaskPoolStrategy
from ray.data._internal.logical.interfaces import LogicalPlan
from ray.data._internal.logical.operators.from_operators import FromBlocks
from ray.data._internal.stats import DatasetStats
from ray.data.block import BlockMetadataWithSchema
from ray.data.context import DataContext
from ray.data.dataset import MaterializedDataset

from emodata import heap
from emodata.lease import LeaseLost
from emodata.records import ITEM_SCHEMA, Item, items_to_table, table_to_items
from emodata.stages.base import Stage

log = logging.getLogger(__name__)


def init_ray(address: str | None, num_cpus: int | None, include_dashboard: bool) -> dict[str, Any]:
    """Connect to a cluster (address or RAY_ADDRESS, as under ``ray job submit``) or start one."""
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": True, "configure_logging": False}
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            kwargs["address"] = address  # an existing cluster sizes itself ("auto": ray start)
        else:
            # a fresh local instance, even when some other Ray runs on this machine
            kwargs["address"] = "local"
            kwargs["include_dashboard"] = include_dashboard
            if num_cpus:
                kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
    return ray.cluster_resources()


def configure_context(preserve_order: bool, progress_bars: bool = True) -> None:
    """Ray Data's own progress output is off when emodata draws its view of the run."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = preserve_order
    ctx.enable_progress_bars = progress_bars


def from_items(items: list[Item], parallelism: int, max_rows_per_block: int = 1024) -> Dataset:
    """A dataset of ``items`` in small blocks, so that work spreads over every worker.

    ``from_blocks`` puts the blocks and reads their row counts and schema on the driver.
    ``from_arrow`` would start one Ray task per block to read the same (``from_arrow_refs``):
    at 1,000 sources in blocks of two, 500 tasks at once, each with its own worker lease
    request, which left the driver some 25 MiB larger for the rest of the window
    (``benchmarks/driver_memory.py``)."""
    return from_tables([items_to_table(items)], len(items), parallelism, max_rows_per_block)


def from_tables(
    tables: Iterable[pa.Table], rows: int, parallelism: int, max_rows_per_block: int = 1024
) -> Dataset:
    """A dataset of the item rows in ``tables`` (``rows`` in all), in at least ``parallelism``
    blocks of at most ``max_rows_per_block`` rows.

    What ``ray.data.from_blocks`` does, a table at a time: each block goes to the object store
    as it is cut, and its row count and schema are read on the driver. ``from_blocks`` takes
    every block at once, so the driver would hold all the rows (a window's sources, read back
    from disk: ``emodata.spill``) until the dataset is made.

    The copies that cutting and putting make are freed at once, but Arrow's pool and glibc's
    heaps keep their pages unless told: measured with clip rows of 3 KiB, the driver held 22 MiB
    more after putting 1,000 rows and 27 MiB more after 4,000, all of it free. A trim after each
    table hands them back."""
    blocks = max(1, min(rows, parallelism))
    per_block = max(1, min(max_rows_per_block, -(-rows // blocks)))
    refs: list[ray.ObjectRef] = []
    meta: list[BlockMetadataWithSchema] = []

    def put(block: pa.Table) -> None:
        block = block.combine_chunks()
        refs.append(ray.put(block))
        meta.append(BlockMetadataWithSchema.from_block(block))

    left: pa.Table | None = None
    for table in tables:
        left = table if left is None else pa.concat_tables([left, table])
        while left.num_rows >= per_block:
            put(left.slice(0, per_block))
            left = left.slice(per_block)
        heap.trim()
    if (left is not None and left.num_rows) or not refs:
        put(left if left is not None else ITEM_SCHEMA.empty_table())
    heap.trim()
    stats = DatasetStats(metadata={"FromBlocks": meta}, parent=None)
    context = DataContext.get_current().copy()
    return MaterializedDataset(LogicalPlan(FromBlocks(refs, meta), context), context, stats)


@ray.remote(num_cpus=0)
class StageCounter:
    """Items that left each stage so far (ok and failed): the run's live stage mix. Workers add
    to it once per batch, fire-and-forget; the driver reads it every second or so."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}
        self.notes: dict[str, str] = {}

    def add(self, stage: str, done: int, failed: int) -> None:
        c = self.counts.setdefault(stage, [0, 0])
        c[0] += done
        c[1] += failed

    def note(self, stage: str, text: str) -> None:
        """What a stage is doing inside a long batch (an annotate round, say)."""
        self.notes[stage] = text

    def snapshot(self) -> tuple[dict[str, list[int]], dict[str, str]]:
        return self.counts, self.notes


def new_counter() -> Any:
    return StageCounter.remote()


def read_counter(
    counter: Any, timeout_s: float = 5.0
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Items out of each stage so far, and each stage's latest note."""
    return ray.get(counter.snapshot.remote(), timeout=timeout_s)


def _tell(stage: Stage, counter: Any) -> None:
    """Let the stage send notes on its work to the driver's view (fire-and-forget)."""
    if counter is not None:
        stage.say = lambda text: counter.note.remote(stage.name, text)


def _run(stage: Stage, batch: pa.Table, counter: Any = None) -> pa.Table:
    """Run a stage on a batch, ``stage.batch_size`` items at a time, and note, per item, the
    Ray node that ran it (provenance) and its share of its call's wall time (where a clip's
    time goes). The batch's results leave as one table of one chunk (see :func:`apply_stage`)."""
    node = ray.get_runtime_context().get_node_id()
    out: list[Item] = []
    for start in range(0, batch.num_rows, max(stage.batch_size, 1)):
        t0 = time.perf_counter()
        items = stage.process(table_to_items(batch.slice(start, stage.batch_size)))
        share = round((time.perf_counter() - t0) / max(len(items), 1), 4)
        for item in items:
            item.record.outcome.nodes[stage.name] = node
            if stage.timed:
                item.record.outcome.timings[stage.name] = share
        if counter is not None:
            counter.add.remote(stage.name, len(items), sum(not i.ok for i in items))
        out += items
    return items_to_table(out)


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()


class _StageTask:
    """Callable for task-based stages: the stage instance travels pickled with the task."""

    def __init__(self, stage: Stage, counter: Any = None) -> None:
        self.stage, self.counter = stage, counter
        _tell(stage, counter)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _run(self.stage, batch, self.counter)


class _StageActor:
    """Actor for stages with ``setup()``: the model loads once per worker."""

    def __init__(self, stage: Stage, counter: Any = None) -> None:
        self.stage, self.counter = stage, counter
        _tell(stage, counter)
        self.stage.setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _run(self.stage, batch, self.counter)


def apply_stage(ds: Dataset, stage: Stage, max_workers: int, counter: Any = None) -> Dataset:
    """Append ``stage`` to the dataset's plan, sized to the declared resources; ``counter``
    (a :class:`StageCounter`) hears how many items leave the stage."""
    res = stage.resources
    workers = max(1, min(stage.concurrency or max_workers, max_workers))
    common: dict[str, Any] = {
        # A stage of one item per call takes whole blocks (``_run`` hands it one item at a
        # time): Ray Data concatenates a task's outputs without combining them, so batches
        # of one made blocks of one Arrow chunk per row, and the driver that read ingest's
        # and planning's results paid some 5 KiB per row for their chunks' metadata.
        # Larger batch sizes stay Ray Data's, which joins small blocks to fill them.
        "batch_size": stage.batch_size if stage.batch_size > 1 else None,
        "batch_format": "pyarrow",
        "zero_copy_batch": True,
        "num_cpus": res.cpus,
    }
    if res.gpus:
        common["num_gpus"] = res.gpus
    if res.custom:
        common["resources"] = dict(res.custom)
    if stage.stateful:
        return ds.map_batches(
            _StageActor,
            fn_constructor_args=(stage, counter),
            compute=ActorPoolStrategy(min_size=1, max_size=workers),
            **common,
        )
    return ds.map_batches(
        _StageTask(stage, counter), compute=TaskPoolStrategy(size=workers), **common
    )


def iter_items(ds: Dataset, batch_size: int = 8):
    """Stream finished items to the driver in order (when preserve_order is set)."""
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="pyarrow", prefetch_batches=2):
        yield from table_to_items(batch)


@contextlib.contextmanager
def worker_errors() -> Iterator[None]:
    """Raise a worker's own ``OSError`` (a full disk, a read-only output while a write task
    writes) or ``LeaseLost`` (the folder's lease was taken over) as itself, not wrapped in Ray's
    task errors, so the run explains it like a write on the driver; anything else goes on as
    Ray raised it."""
    try:
        yield
    except Exception as e:
        cause = _worker_cause(e)
        if cause is not None:
            raise cause from None
        raise


def _worker_cause(e: BaseException) -> OSError | LeaseLost | None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, OSError | LeaseLost) and not isinstance(err, ray.exceptions.RayError):
            return err
        cause = getattr(err, "cause", None)  # RayTaskError's own exception
        if not isinstance(cause, BaseException):
            cause = None
        todo += [err.__cause__, err.__context__, cause]
    return None
