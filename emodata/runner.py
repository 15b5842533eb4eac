"""``emodata run``: discovery, ingest, dedup, segment, validate, write; resumable.

The driver does only light work: it lists inputs, keeps the ingest cache, de-duplicates by
content id and plans clips. Heavy work runs on Ray, writing included: the write tasks check,
pack and index the clips on the workers (``emodata.stages.write``), and the driver hears one
small status row per clip, never its media.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from emodata import arrowio, heap, layout, manifest_labels, report, stats, window
from emodata.annotate.session import AnnotateSession
from emodata.annotate.session import prepare as prepare_annotate
from emodata.config import RunConfig
from emodata.dedup import ContentIds
from emodata.discover import SkippedRow, SourceRef, scan_inputs
from emodata.errors import ConfigError, Reason, ValidationFailed
from emodata.ingest_cache import IngestCache
from emodata.lease import acquire as acquire_lease
from emodata.lease import check_held, releasing
from emodata.local_flow import LocalFlow
from emodata.media import require_tools
from emodata.progress import Progress, View
from emodata.records import (
    ClipRecord,
    Item,
    Source,
    items_to_table,
    record_json,
)
from emodata.spill import Spill, Spills
from emodata.stages import registry
from emodata.stages.base import Resources, Stage
from emodata.stages.ingest import IngestStage
from emodata.stages.segment import ScenePlanStage, SegmentStage
from emodata.stages.write import RowChecks, WriteStage, WriteTarget, number_clips
from emodata.state import PriorState, scan
from emodata.writable import require_folder
from emodata.writer import LedgerBook, ShardWriter

log = logging.getLogger(__name__)

_BLOCK_ROWS = 16
_LLM_STARTING = "starting the annotate backend (a local LLM server takes ~1 min)"


@dataclass
class RunResult:
    root: str
    run: dict[str, Any]
    summary: dict[str, Any]

    def render(self) -> str:
        return report.render_summary(self.root, self.summary, self.run)


def _ray() -> Any:
    """``emodata.ray_adapter``, imported on first use: Ray and Ray Data take seconds to import,
    and a small run without model stages never starts Ray."""
    from emodata import ray_adapter

    return ray_adapter


def _blocks(workers: int) -> tuple[int, int]:
    """How a window's sources to plan or clips to encode are cut into blocks (one task's work
    each): at least 8 blocks per worker, so that the last tasks are short next to the whole,
    and at most ``_BLOCK_ROWS`` rows per block once a window has many more rows than that.
    The driver keeps some state per block while a dataset streams (about 7 KiB here), which
    at 2 or 4 rows per block cost it more than all of the rows' own data."""
    return workers * 8, _BLOCK_ROWS


def _probe(cfg: RunConfig, todo: Spill, workers: int, local: bool) -> Iterator[Item]:
    """Hash and probe the inputs ``todo`` on the driver's threads (``local``) or on Ray."""
    if local:
        return _map_local(IngestStage(cfg.ingest), window.items(todo), workers)
    ds = _ray().from_tables(todo.chunks(), todo.num_rows, workers * 4)
    ds = _ray().apply_stage(ds, IngestStage(cfg.ingest), workers)
    return _ray().iter_items(ds, batch_size=64)


def _map_local(stage: Stage, items: list[Item], threads: int) -> Iterator[Item]:
    """Run a per-source stage on the driver in threads, results in input order (as Ray Data's
    preserve_order gives them): its work is hashing and FFmpeg subprocesses, and a small run
    saves Ray Data's start-up by it."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for out in pool.map(lambda item: stage.process([item]), items):
            yield from out


@releasing  # DIR's lease, whether the run ends well or not
def run(cfg: RunConfig, view: View | None = None) -> RunResult:
    """Run the pipeline. ``view`` (``emodata.console``) draws progress; without one, Ray Data
    shows its own progress output."""
    if not cfg.input or not cfg.output:
        raise ConfigError("input and output are required (--input PATH --output DIR)")
    require_tools()
    heap.use_system_pool()  # the driver's Arrow memory goes back at each trim
    t0 = time.perf_counter()
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    fs, root = fsspec.core.url_to_fs(cfg.output)
    root = root.rstrip("/")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    # inputs first: a manifest that cannot be read stops the run before DIR is touched
    found = scan_inputs(
        cfg.input, cfg.ingest.extensions, cfg.ingest.audio_extensions, cfg.ingest.remote_timeout_s
    )
    refs = found.refs  # on disk: read a window at a time
    relabel = (
        manifest_labels.mapper(refs, cfg.ingest.label_map, cfg.annotate.taxonomy)
        if cfg.ingest.label_map
        else None
    )
    require_folder(fs, root, "--output")  # a file in the way, read-only: say so before any work
    acquire_lease(fs, root, run_id)  # before anything is written or cleaned up in DIR
    progress = Progress(fs, root, run_id, view=view)
    progress.inputs = len(refs)
    for spec in registry.clip_stages(cfg.stages):  # missing extras and models: before any work
        spec.check_installed()
        if spec.preflight is not None:
            spec.preflight(cfg)
    prior: PriorState = scan(fs, root)
    if prior.total_done:
        log.info("resuming: %d clip(s) already written in %s", prior.total_done, root)

    config_dump = cfg.dump()
    clock = _lap(timings, "discover and checks", clock)
    ledger = LedgerBook(prior.ledger, run_id)
    for skipped_row in found.skipped_rows:
        ledger.add(_row_item(cfg.input, skipped_row))
    cluster = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    local = not cluster and 0 < len(refs) <= cfg.ingest.local_max_inputs
    # the driver takes the inputs a window at a time: what it holds follows the window; the
    # content ids it kept (for dedup) live in a DuckDB file, and the ledger's decisions last
    # the whole run
    step = cfg.ingest.window
    n_windows = max(1, -(-len(refs) // step))

    def inputs_of(n: int) -> Iterator[list[SourceRef]]:
        for got in refs.batches(n * step, (n + 1) * step, window.CHOOSE_BATCH):
            yield [relabel(r) for r in got] if relabel is not None else got

    cache = IngestCache(fs, root, run_id)
    spills = Spills()  # a window's rows between its phases, on the driver's disk
    kept = ContentIds()  # content id -> first path, for dedup over all windows
    earlier = _earlier(ledger)
    planned = [0]  # clips planned so far, over all windows

    # a small local run without model stages is FFmpeg work only: the driver's threads do it
    # all, and Ray is not started
    driver_only = local and not registry.clip_stages(cfg.stages)
    threads = cfg.ray.num_cpus or os.cpu_count() or 1
    stack = contextlib.ExitStack()
    stack.callback(spills.close)
    flow_pool = None
    if driver_only and "segment" in cfg.stages:
        flow_pool = ThreadPoolExecutor(threads, thread_name_prefix="emodata-ffmpeg")
        stack.callback(flow_pool.shutdown, cancel_futures=True)

    def front(inputs: Iterator[list[SourceRef]], n: int, workers: int) -> _Front:
        progress.start_phase("ingest", total=len(refs), more=n > 0)
        ingested = window.ingest(
            inputs,
            cfg.ingest.remote_timeout_s,
            cache,
            functools.partial(_probe, cfg, workers=workers, local=local),
            progress.tick,
            spills,
        )
        progress.end_phase()
        heap.release()  # what decoding the window's ingest results took, before planning
        todo = spills.new("to-plan")
        skipped = window.choose(ingested, kept, prior, ledger, earlier, todo)
        clips = flow = None
        if local and "segment" in cfg.stages and todo.num_rows:
            progress.start_phase("plan", total=todo.num_rows, more=n > 0)
            if flow_pool is not None:  # planning goes on beside the encodes (``_process``)
                timeout = cfg.ingest.remote_timeout_s
                flow = LocalFlow(
                    ScenePlanStage(cfg.segment, timeout),
                    SegmentStage(cfg.segment, timeout),
                    window.items(todo),
                    flow_pool,
                )
                todo.close()
            else:
                clips = _plan(cfg, todo, workers, ledger, progress, planned[0], local=True)
                progress.end_phase()
        return _Front(todo, skipped, clips, flow)

    with stack:
        with ThreadPoolExecutor(3) as pool:
            # great_expectations takes seconds to import, and a small run ingests and plans on the
            # driver: both overlap Ray's start-up
            pending = pool.submit(_checkpoints, cfg, config_dump)
            early = pool.submit(front, inputs_of(0), 0, threads) if local else None
            if driver_only:
                resources = {"CPU": float(threads)}
            else:
                progress.set(activity="starting Ray")
                resources = _ray().init_ray(
                    cfg.ray.address, cfg.ray.num_cpus, cfg.ray.include_dashboard
                )
                clock = _lap(timings, "ray start", clock)
                progress.set(activity="")
            checkpoints = pending.result()
            after = "" if driver_only else " (after ray)"
            clock = _lap(timings, f"expectation suites{after}", clock)
            front_result = early.result() if early is not None else None
            clock = _lap(timings, f"driver-side ingest and plan{after}", clock)
        if not driver_only:
            _ray().configure_context(cfg.ray.preserve_order, progress_bars=view is None)
        boundaries = [s for s in cfg.stages if s not in {"write", "validate"}] + ["write"]
        target = WriteTarget(
            output=cfg.output,
            write=cfg.write,
            run_id=run_id,
            fingerprint=cfg.fingerprint(),
            first_seq=prior.next_seq,
            checks=None
            if checkpoints is None
            else RowChecks(
                config_dump,
                cfg.validate_.suites_dir,
                boundaries,
                built=checkpoints if driver_only else None,
                extra=registry.suites(cfg.stages),
            ),
            extra_columns=tuple(registry.index_columns(cfg.stages)),
        )
        # the driver's own ledger rows (inputs that failed ingest or planning) go in a fragment of
        # their own, numbered after every clip's (``number_clips``); it writes no shard
        driver_seq = [prior.next_seq]
        writer = ShardWriter(
            fs,
            root,
            first_seq=0,
            max_bytes=cfg.write.max_shard_bytes,
            max_samples=cfg.write.max_shard_samples,
            include_frames=cfg.write.include_frames,
            run_id=run_id,
            config_fingerprint=target.fingerprint,
            ledger=ledger,
            seqs=lambda: driver_seq[0],
            fence=functools.partial(check_held, fs, root, run_id),
        )
        workers = max(1, int(resources.get("CPU", 1) // max(cfg.segment.cpus_per_task, 0.01)))
        tally = Tally()
        sources_done = 0
        stack.callback(kept.close)
        stack.callback(refs.close)
        stack.callback(prior.done.close)
        llm = None
        for n in range(n_windows):
            got = (
                front_result
                if n == 0 and front_result is not None
                else front(inputs_of(n), n, workers)
            )
            part = f" (window {n + 1} of {n_windows})" if n_windows > 1 else ""
            log.info("segment%s: %d source(s) to do, %d clip(s) already written",
                     part, got.todo.num_rows, got.skipped)  # fmt: skip
            progress.skipped += got.skipped
            sources_done += got.todo.num_rows
            if llm is None and "annotate" in cfg.stages and got.todo.num_rows:
                since = time.perf_counter()
                progress.set(activity=_LLM_STARTING)
                llm = stack.enter_context(prepare_annotate(cfg.annotate, cfg.output))
                progress.set(activity="")
                _lap(timings, "annotate backend start", since)
            planned[0] = _process(
                cfg, got, workers, resources, llm, target, tally, ledger, progress,
                first=planned[0], more=n > 0,
            )  # fmt: skip
        driver_seq[0] += planned[0]
        for phase in ("ingest", "plan", "process"):
            if progress.phases[phase].started is not None:
                timings[phase] = round(progress.phases[phase].elapsed(time.monotonic()), 2)
        clock = time.perf_counter()
        writer.close()

    final_failures = []
    if checkpoints is not None:
        progress.start_phase("validate", total=1)
        final_failures = _final_check(fs, root, checkpoints)
        progress.tick(failed=1 if final_failures else 0)
    clock = _lap(timings, "write close and final validation", clock)
    summary = stats.summary(cfg.output)
    run_info = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "ended_at": datetime.now(UTC).isoformat(),
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "stages": cfg.stages,
        "input": cfg.input,
        "counts": {
            "inputs": len(refs),
            "sources_processed": sources_done,
            "written": tally.written,
            "skipped_done": progress.skipped,
            "windows": n_windows,
            "shards_written": sorted(tally.shards),
            "ledger_rows": ledger.new_rows + tally.ledger_rows,
            "driver_media_bytes": tally.media_bytes,
            "driver_status_bytes": tally.status_bytes,
            # vLLM engine actors of an in-process vLLM backend: one start each for the run
            **(llm.engine_counts() if llm is not None else {}),
            "removed_incomplete": len(prior.removed),
            "unreadable_set_aside": [src for src, _ in prior.corrupt],
            "skipped_by_extension": dict(found.skipped.most_common()),
            "manifest_rows": found.manifest_rows,
            "manifest_rows_skipped": dict(Counter(r.reason for r in found.skipped_rows)),
        },
        "validation": "failed" if final_failures else "passed" if checkpoints else "not run",
        "timings": timings,
    }
    progress.start_phase("done")
    progress.flush(force=True, state="failed validation" if final_failures else "finished")
    manifest = report.write_manifest(
        fs, root, run_info, config_dump, summary["clips"], earlier=prior.rebuilt_runs
    )
    report.write_card(fs, root, manifest, summary)
    if final_failures and cfg.validate_.stop_on_batch_failure:
        raise ValidationFailed(
            f"{len(final_failures)} batch-level expectation(s) failed on the index",
            f"{root}/{layout.VALIDATION_REPORT}",
        )
    return RunResult(cfg.output, run_info, summary)


def _row_item(manifest: str, row: SkippedRow) -> Item:
    """A manifest row that is not an input of its own, as a ledger entry keyed by its row."""
    item = Item(
        f"manifest-row-{row.row}", ClipRecord(Source(path=row.path or manifest, meta=row.meta))
    )
    return item.fail("ingest", Reason(row.reason), row.message)


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    """Record the seconds since ``since`` as ``name``; returns now, the next lap's start."""
    now = time.perf_counter()
    timings[name] = round(now - since, 2)
    return now


def _earlier(ledger: LedgerBook) -> dict[str, list[list[Any]]]:
    """What earlier runs ledgered, by source path."""
    earlier: dict[str, list[list[Any]]] = {}
    for (path, key, stage), (attempts, reasons) in ledger.prior.items():
        earlier.setdefault(path, []).append([path, key, stage, attempts, sorted(reasons)])
    return earlier


@dataclass
class _Front:
    """One window after ingest, dedup and selection: the sources with clips to write, how many
    clips of its sources are written already, and their planned clips when the driver planned
    them (or the driver's threads planning and encoding them, ``flow``)."""

    todo: Spill
    skipped: int
    clips: Spill | None  # numbered (``write_order``)
    flow: LocalFlow | None = None


@dataclass
class Tally:
    """What the driver hears back from the write tasks: counts, not clips."""

    written: int = 0
    ledger_rows: int = 0
    shards: set[str] = field(default_factory=set)
    media_bytes: int = 0  # media in what reached the driver: 0 by design, counted to show it
    status_bytes: int = 0

    def add(self, status: Item, progress: Progress) -> None:
        self.media_bytes += sum(len(b) for b in status.blobs.values())
        self.status_bytes += len(record_json(status.record)) + len(status.key)
        shard = status.record.work.get("shard")
        if shard:
            self.written += 1
            self.shards.add(shard)
        self.ledger_rows += bool(status.record.work.get("ledgered"))
        progress.item(status.record.outcome, status.ok)


def _process(
    cfg: RunConfig,
    front: _Front,
    workers: int,
    resources: dict[str, float],
    llm: AnnotateSession | None,
    target: WriteTarget,
    tally: Tally,
    ledger: LedgerBook,
    progress: Progress,
    first: int = 0,
    more: bool = False,
) -> int:
    """Plan a window's clips (unless the driver did already), then stream them through segment,
    the model stages and write (``front.flow``: segment and write in the driver's threads); the
    driver hears the write tasks' status rows. The clips take places from ``first`` on (a write
    task's file numbers follow from them); returns the next free place. ``more``: an earlier
    window went first, and the progress phases go on from it."""
    if "segment" not in cfg.stages or not front.todo.num_rows:
        front.todo.close()
        return first
    write = WriteStage(target)
    if front.flow is not None:
        return _process_local(front.flow, write, ledger, tally, progress, first, more)
    clips = front.clips
    if clips is None:
        progress.start_phase("plan", total=front.todo.num_rows, more=more)
        clips = _plan(cfg, front.todo, workers, ledger, progress, first)
    heap.release()
    log.info("segment: %d clip(s) to encode", clips.num_rows)
    progress.planned += clips.num_rows
    progress.start_phase("process", total=progress.planned, more=more)
    if not clips.num_rows:
        clips.close()
        return first
    numbered = first + clips.num_rows
    counter = _ray().new_counter()
    ds = _ray().from_tables(clips.chunks(), clips.num_rows, *_blocks(workers))
    clips.close()  # the clips are in the object store now
    segment = SegmentStage(cfg.segment, cfg.ingest.remote_timeout_s)
    ds = _ray().apply_stage(ds, segment, workers, counter)
    context = registry.RunContext(llm=llm, remote_timeout_s=cfg.ingest.remote_timeout_s)
    models: list[Stage] = []
    for spec in registry.clip_stages(cfg.stages):
        stage = spec.build(cfg.section(spec.name), cfg, context)
        if stage is not None:
            models.append(stage)
    fit_actors(models, resources.get("CPU", 1), cfg.segment.cpus_per_task)
    for stage in models:
        ds = _ray().apply_stage(ds, stage, workers, counter)
    ds = _ray().apply_stage(ds, write, workers, counter)
    progress.stages = ["segment", *(m.name for m in models), "write"]
    with _watch_stages(counter, progress), _ray().worker_errors():
        for status in _ray().iter_items(ds, batch_size=64):
            tally.add(status, progress)
    heap.release()  # before the next window
    return numbered


def _process_local(
    flow: LocalFlow,
    write: WriteStage,
    ledger: LedgerBook,
    tally: Tally,
    progress: Progress,
    first: int,
    more: bool,
) -> int:
    """A window's clips planned and encoded on the driver's threads (``flow``), written by the
    driver a batch at a time while the threads encode on; returns the next free place."""
    progress.start_phase("process", total=progress.planned, more=more, alongside=True)
    progress.stages = ["segment"]
    left = [flow.sources]

    def planned(source: Item, items: list[Item]) -> None:
        clips = sum(i.ok for i in items)
        for item in items:
            if not item.ok:
                ledger.add(item)
        progress.planned += clips
        progress.grow("process", clips)
        progress.tick(failed=int(not clips and len(items) > 0), phase="plan")
        left[0] -= 1
        if not left[0]:
            progress.end_phase("plan")

    batch: list[Item] = []
    done = [0, 0]  # [out of the stage, of them failed], as the workers' counter has it
    for item in flow.clips(first, planned):
        done[0] += 1
        done[1] += not item.ok
        progress.stage_done["segment"] = list(done)
        batch.append(item)
        if len(batch) >= write.batch_size:
            for status in write.process(batch):
                tally.add(status, progress)
            batch = []
    for status in write.process(batch) if batch else ():
        tally.add(status, progress)
    log.info("segment: %d clip(s) encoded", done[0])
    return flow.next_place


@contextlib.contextmanager
def _watch_stages(counter: Any, progress: Progress, every_s: float = 1.0) -> Iterator[None]:
    """Read the workers' per-stage counts into ``progress`` in the background."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            try:
                progress.stage_done, notes = _ray().read_counter(counter)
            except Exception as e:  # the view is best effort, the run is not
                log.debug("stage counts unavailable: %s", e)
                continue
            progress.stage_notes(notes)
            try:
                progress.flush()
            except OSError as e:  # a full disk: the writer meets it too and stops the run
                log.debug("progress not saved: %s", e)

    thread = threading.Thread(target=poll, name="emodata-stage-counts", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            progress.stage_done, _ = _ray().read_counter(counter)
        except Exception as e:  # the view is best effort, the run is not
            log.debug("final stage counts unavailable: %s", e)


def _plan(
    cfg: RunConfig,
    sources: Spill,
    workers: int,
    ledger: LedgerBook,
    progress: Progress,
    first: int,
    local: bool = False,
) -> Spill:
    """Scene cuts for every source (a light decode), then one row per clip to encode (on
    the driver's disk), each given its place (``write_order``) from ``first`` on, in the
    order the plans come back. ``sources`` is removed.

    Planning first and encoding second lets the clips of one long source spread over all
    workers instead of queueing behind one task.
    """
    stage = ScenePlanStage(cfg.segment, cfg.ingest.remote_timeout_s)
    count = sources.num_rows
    out = sources.then("clips")
    if local:
        done = _map_local(stage, window.items(sources), workers)
    else:
        ds = _ray().from_tables(sources.chunks(), count, *_blocks(workers))
        done = _ray().iter_items(_ray().apply_stage(ds, stage, workers), batch_size=64)
    sources.close()  # on Ray, the dataset holds them now; on the driver, the threads' items
    planned, last = 0, None
    for n, batch in enumerate(window.batched(done), 1):
        if n % window.TRIM_EVERY == 0:
            heap.trim()
        clips = []
        for item in batch:
            source = item.record.source.id or item.key
            if source != last:  # clips of one source arrive together: a source is planned
                last = source
                planned += 1
                progress.tick(failed=0 if item.ok else 1)
            if item.ok:
                clips.append(item)
            else:
                ledger.add(item)
        first = number_clips(clips, first)
        if clips:
            out.add(items_to_table(clips))
    progress.tick(count - planned)  # sources that gave no clip and no failure
    return out.seal()


def fit_actors(stages: list[Stage], cluster_cpus: float, task_cpus: float) -> None:
    """Scale the CPU requests of standing actors so that a CPU task can still run.

    Every actor pool keeps at least one actor holding its CPUs for the whole run; on a small
    machine (a laptop, this 2-core box) their requests can add up to every CPU and starve the
    segment tasks that feed them. Requests are scaled down proportionally with a warning.
    """
    wanted = sum(s.resources.cpus for s in stages)
    room = cluster_cpus - task_cpus
    if not stages or wanted <= room:
        return
    if room <= 0:
        raise ConfigError(
            f"segment.cpus_per_task={task_cpus} leaves no CPU for the model stages on a "
            f"cluster with {cluster_cpus:g} CPUs"
        )
    factor = room / wanted
    for stage in stages:
        r = stage.resources
        stage.resources = Resources(cpus=round(r.cpus * factor, 3), gpus=r.gpus, custom=r.custom)
    log.info(
        "model stages asked for %.2g CPUs as standing actors but only %.2g are free beside the "
        "segment tasks; scaled their requests by %.2f",
        wanted,
        room,
        factor,
    )


def _checkpoints(cfg: RunConfig, config_dump: dict[str, Any]) -> Any:
    if "validate" not in cfg.stages:
        return None
    from emodata.validate import Checkpoints

    return Checkpoints(config_dump, cfg.validate_.suites_dir, registry.suites(cfg.stages))


def _final_check(fs: fsspec.AbstractFileSystem, root: str, checkpoints: Any) -> list[Any]:
    from emodata.validate import write_report

    files = [
        p
        for p in (
            fs.ls(f"{root}/{layout.INDEX}", detail=False)
            if fs.exists(f"{root}/{layout.INDEX}")
            else []
        )
        if p.endswith(".parquet") and not p.rsplit("/", 1)[-1].startswith(".")
    ]
    if not files:
        return []
    tables = []
    for p in sorted(files):
        with arrowio.open_input(fs, p) as f:
            tables.append(pq.read_table(f))
    frame = pa.concat_tables(tables).drop_columns(["stage_status"]).to_pandas()
    frame["stage_status"] = None
    failures = checkpoints.check_batch("final", frame)
    if failures:
        write_report(failures, len(frame), fs, root)
        log.error("validation failed: see %s/%s", root, layout.VALIDATION_REPORT)
    else:
        for name in (layout.VALIDATION_REPORT, layout.VALIDATION_JSON):
            if fs.exists(f"{root}/{name}"):
                fs.rm(f"{root}/{name}")
    return failures
