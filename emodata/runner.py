"""``emodata run``: discovery, ingest, dedup, segment, validate, write; resumable.

The driver does only light work: it lists inputs, keeps the ingest cache, de-duplicates by
content id, and streams finished clips into the shard writer. Heavy work runs on Ray.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from emodata import layout, ray_adapter, report, stats
from emodata.annotate.session import AnnotateSession
from emodata.annotate.session import prepare as prepare_annotate
from emodata.config import RunConfig
from emodata.discover import SourceRef, discover
from emodata.errors import ConfigError, Reason, ValidationFailed
from emodata.lease import acquire as acquire_lease
from emodata.lease import releasing
from emodata.media import require_tools
from emodata.models import model_path
from emodata.progress import Progress
from emodata.records import Item
from emodata.stages.annotate import AnnotateStage
from emodata.stages.base import Resources, Stage
from emodata.stages.cues import CuesStage
from emodata.stages.faces import FacesStage
from emodata.stages.ingest import IngestStage
from emodata.stages.segment import ScenePlanStage, SegmentStage
from emodata.stages.transcribe import TranscribeStage
from emodata.state import PriorState, scan
from emodata.writer import LedgerBook, ShardWriter

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    root: str
    run: dict[str, Any]
    summary: dict[str, Any]

    def render(self) -> str:
        return report.render_summary(self.root, self.summary, self.run)


def _fingerprint(fs: fsspec.AbstractFileSystem, path: str) -> str:
    try:
        info = fs.info(path)
    except (FileNotFoundError, OSError):
        return "missing"
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or ""
    return f"{info.get('size')}:{stamp}"


class IngestCache:
    """Ingest results by (path, size, mtime): a rerun does not hash and probe again."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs, self.path = fs, f"{root}/{layout.INGEST_CACHE}"
        self.rows: dict[str, tuple[str, str]] = {}
        if fs.exists(self.path):
            with fs.open(self.path, "rb") as f:
                t = pq.read_table(f).to_pydict()
            self.rows = {
                p: (fp, rec) for p, fp, rec in zip(t["path"], t["fp"], t["record"], strict=True)
            }

    def get(self, path: str, fp: str) -> Item | None:
        hit = self.rows.get(path)
        if hit is None or hit[0] != fp:
            return None
        return Item(path, json.loads(hit[1]))

    def put(self, item: Item, fp: str) -> None:
        err = item.error
        if err is None or err["kind"] == "filtered":  # failures are retried, decisions kept
            self.rows[item.key] = (fp, json.dumps(item.record, sort_keys=True))

    def save(self) -> None:
        paths = sorted(self.rows)
        table = pa.table(
            {
                "path": paths,
                "fp": [self.rows[p][0] for p in paths],
                "record": [self.rows[p][1] for p in paths],
            }
        )
        self.fs.makedirs(self.path.rsplit("/", 1)[0], exist_ok=True)
        tmp = self.path + ".tmp"
        with self.fs.open(tmp, "wb") as f:
            pq.write_table(table, f)
        self.fs.mv(tmp, self.path)


def _ingest(
    cfg: RunConfig, refs: list[SourceRef], cache: IngestCache, in_fs: dict[str, Any], workers: int
) -> list[Item]:
    items, todo, fps = [], [], {}
    for ref in refs:
        fs, p = in_fs.setdefault(ref.path, fsspec.core.url_to_fs(ref.path))
        fp = fps[ref.path] = _fingerprint(fs, p)
        hit = cache.get(ref.path, fp)
        if hit is not None:
            hit.record["meta"] = ref.meta
            items.append(hit)
        else:
            todo.append(Item(ref.path, {"path": ref.path, "meta": ref.meta}))
    log.info("ingest: %d cached, %d to probe", len(items), len(todo))
    if todo:
        ds = ray_adapter.apply_stage(
            ray_adapter.from_items(todo, workers * 4), IngestStage(cfg.ingest), workers
        )
        for item in ray_adapter.iter_items(ds, batch_size=64):
            cache.put(item, fps[item.key])
            items.append(item)
        cache.save()
    order = {ref.path: n for n, ref in enumerate(refs)}
    return sorted(items, key=lambda i: order[i.key])


def _dedup(items: list[Item]) -> list[Item]:
    """Keep the first path per content id; the others are ledgered as duplicates."""
    first: dict[str, str] = {}
    for item in items:
        if not item.ok:
            continue
        sid = item.record["source_id"]
        if sid in first:
            item.fail("ingest", Reason.DUPLICATE, f"same content as {first[sid]}")
        else:
            first[sid] = item.key
    return items


def _index_frame(items: list[Item]) -> pd.DataFrame:
    from emodata.validate import row_view

    return pd.DataFrame([row_view(i.key, i.record) for i in items])


@releasing  # DIR's lease, whether the run ends well or not
def run(cfg: RunConfig) -> RunResult:
    if not cfg.input or not cfg.output:
        raise ConfigError("input and output are required (--input PATH --output DIR)")
    require_tools()
    t0 = time.perf_counter()
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    fs, root = fsspec.core.url_to_fs(cfg.output)
    root = root.rstrip("/")
    fs.makedirs(root, exist_ok=True)
    acquire_lease(fs, root, run_id)  # before anything is written or cleaned up in DIR
    progress = Progress(fs, root, run_id)
    refs = discover(cfg.input, cfg.ingest.extensions)
    progress.set(phase="ingest", inputs=len(refs))
    if "transcribe" in cfg.stages:
        _check_asr(cfg)
    if "faces" in cfg.stages or "cues" in cfg.stages:
        _check_faces()
    prior: PriorState = scan(fs, root)
    if prior.total_done:
        log.info("resuming: %d clip(s) already written in %s", prior.total_done, root)

    config_dump = cfg.dump()
    with ThreadPoolExecutor(1) as pool:
        # great_expectations takes seconds to import: let it overlap Ray's start-up
        pending = pool.submit(_checkpoints, cfg, config_dump)
        resources = ray_adapter.init_ray(
            cfg.ray.address, cfg.ray.num_cpus, cfg.ray.include_dashboard
        )
        checkpoints = pending.result()
    ray_adapter.configure_context(cfg.ray.preserve_order)
    workers = max(1, int(resources.get("CPU", 1) // max(cfg.segment.cpus_per_task, 0.01)))
    boundaries = [s for s in cfg.stages if s not in {"write", "validate"}] + ["write"]

    ledger = LedgerBook(prior.ledger, run_id)
    writer = ShardWriter(
        fs,
        root,
        first_seq=prior.next_seq,
        max_bytes=cfg.write.max_shard_bytes,
        max_samples=cfg.write.max_shard_samples,
        include_frames=cfg.write.include_frames,
        run_id=run_id,
        config_fingerprint=cfg.fingerprint(),
        ledger=ledger,
    )
    sources = _dedup(_ingest(cfg, refs, IngestCache(fs, root), {}, workers))
    todo: list[Item] = []
    skipped = 0
    for item in sources:
        if not item.ok:
            ledger.add(item)
            continue
        sid = item.record["source_id"]
        if prior.source_done(sid):
            skipped += len(prior.done_keys[sid])
            continue
        if sid in prior.done_keys:
            item.record["done_keys"] = sorted(prior.done_keys[sid])
            skipped += len(prior.done_keys[sid])
        todo.append(item)
    log.info("segment: %d source(s) to do, %d clip(s) already written", len(todo), skipped)
    progress.set(phase="plan", skipped=skipped)

    with contextlib.ExitStack() as stack:
        llm = None
        if "annotate" in cfg.stages and todo:
            llm = stack.enter_context(prepare_annotate(cfg.annotate, cfg.output))
        _process(
            cfg, todo, workers, resources, llm, writer, ledger, checkpoints, boundaries, progress
        )
    writer.close()
    progress.set(phase="validate")

    final_failures = []
    if checkpoints is not None:
        final_failures = _final_check(fs, root, checkpoints)
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
            "sources_processed": len(todo),
            "written": writer.samples_written,
            "skipped_done": skipped,
            "shards_written": writer.shards_written,
            "ledger_rows": ledger.new_rows,
            "removed_incomplete": len(prior.removed),
        },
        "validation": "failed" if final_failures else "passed" if checkpoints else "not run",
    }
    progress.phase = "done"
    progress.flush(force=True, state="failed validation" if final_failures else "finished")
    manifest = report.write_manifest(fs, root, run_info, config_dump, summary["clips"])
    report.write_card(fs, root, manifest, summary)
    if final_failures and cfg.validate_.stop_on_batch_failure:
        raise ValidationFailed(
            f"{len(final_failures)} batch-level expectation(s) failed on the index",
            f"{root}/{layout.VALIDATION_REPORT}",
        )
    return RunResult(cfg.output, run_info, summary)


def _process(
    cfg: RunConfig,
    todo: list[Item],
    workers: int,
    resources: dict[str, float],
    llm: AnnotateSession | None,
    writer: ShardWriter,
    ledger: LedgerBook,
    checkpoints: Any,
    boundaries: list[str],
    progress: Progress,
) -> None:
    """Plan clips, then stream them through segment and the model stages into the writer."""
    if "segment" in cfg.stages and todo:
        clips = _plan(cfg, todo, workers, ledger)
        log.info("segment: %d clip(s) to encode", len(clips))
        progress.set(phase="process", planned=len(clips))
        if clips:
            ds = ray_adapter.from_items(clips, workers * 4, max_rows_per_block=4)
            ds = ray_adapter.apply_stage(ds, SegmentStage(cfg.segment), workers)
            models: list[Stage] = []
            if "transcribe" in cfg.stages:
                models.append(TranscribeStage(cfg.transcribe))
            if "faces" in cfg.stages:
                models.append(FacesStage(cfg.faces))
            if "cues" in cfg.stages:
                models.append(CuesStage(cfg.cues))
            if "annotate" in cfg.stages and llm is not None:
                models.append(AnnotateStage(llm.config, llm.cache_url))
            fit_actors(models, resources.get("CPU", 1), cfg.segment.cpus_per_task)
            for stage in models:
                ds = ray_adapter.apply_stage(ds, stage, workers)
            batch: list[Item] = []
            for item in ray_adapter.iter_items(ds, batch_size=4):
                batch.append(item)
                if len(batch) >= 4:
                    _write_batch(batch, writer, checkpoints, boundaries, progress)
                    batch = []
            _write_batch(batch, writer, checkpoints, boundaries, progress)


def _plan(cfg: RunConfig, sources: list[Item], workers: int, ledger: LedgerBook) -> list[Item]:
    """Scene cuts for every source (a light decode), then one item per clip to encode.

    Planning first and encoding second lets the clips of one long source spread over all
    workers instead of queueing behind one task.
    """
    ds = ray_adapter.apply_stage(
        ray_adapter.from_items(sources, workers * 4, max_rows_per_block=2),
        ScenePlanStage(cfg.segment),
        workers,
    )
    clips = []
    for item in ray_adapter.iter_items(ds, batch_size=64):
        if item.ok:
            clips.append(item)
        else:
            ledger.add(item)
    return clips


def _check_asr(cfg: RunConfig) -> None:
    """Fail before any work when the ASR backend or its model is missing."""
    from emodata.models import ModelError

    if cfg.transcribe.backend == "whisperx":
        from emodata.asr.whisperx_backend import require_whisperx as require
    else:
        from emodata.asr.faster_whisper_backend import require_faster_whisper as require
    require()
    for field in ("model", "align_model"):
        name = getattr(cfg.transcribe, field)
        try:
            if name:
                model_path(name)
        except ModelError as e:
            raise ConfigError(f"transcribe.{field}: {e}") from None


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
    log.warning(
        "model stages asked for %.2g CPUs as standing actors but only %.2g are free beside the "
        "segment tasks; scaled their requests by %.2f",
        wanted,
        room,
        factor,
    )


def _check_faces() -> None:
    from emodata.faces.dlib_backend import require_faces
    from emodata.models import ModelError, resolve

    require_faces()
    for name in ("dlib-landmarks-68", "dlib-face-embedding", "fer2013-expression"):
        try:
            resolve(name)
        except ModelError as e:
            raise ConfigError(f"faces: {e}") from None


def _checkpoints(cfg: RunConfig, config_dump: dict[str, Any]) -> Any:
    if "validate" not in cfg.stages:
        return None
    from emodata.validate import Checkpoints

    return Checkpoints(config_dump, cfg.validate_.suites_dir)


def _write_batch(
    batch: list[Item],
    writer: ShardWriter,
    checkpoints: Any,
    boundaries: list[str],
    progress: Progress,
) -> None:
    """Row-level checkpoints of every stage boundary the items crossed, then the writer."""
    if checkpoints is not None:
        ok = [i for i in batch if i.ok]
        for boundary in boundaries:
            if not ok:
                break
            bad = checkpoints.check_rows(boundary, _index_frame(ok))
            for pos, why in bad.items():
                ok[pos].fail("validate", Reason.EXPECTATION_FAILED, why)
            ok = [i for i in ok if i.ok]
        for item in ok:
            item.mark("validate")
    for item in batch:
        progress.item(item.record, item.ok)
        writer.add(item)


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
        with fs.open(p, "rb") as f:
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
