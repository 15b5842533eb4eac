"""Per-stage rates per clip on this machine: CPU seconds, wall seconds, bytes written and LLM
tokens, the measured inputs of docs/scale.md's cost model.

Two measurements on the same inputs:

1. **Stages in one process**, one item at a time, no Ray: each stage's ``process()`` on every
   source (ingest, scene plan) or clip (segment, transcribe, faces, cues), with the CPU time of
   this process plus the FFmpeg processes it waits for, and the wall time. Model loading
   (``setup()``) is counted apart: a worker pays it once.
2. **`emodata run`** over the same inputs with every stage, annotate with `make demo`'s
   settings (a local vLLM server on the CPU with Qwen2.5-Coder-0.5B-Instruct). Measured: wall
   time and the run's phase timings; the CPU time of every process the run started (driver,
   Ray, workers, FFmpeg, the vLLM server; polled, see ``run_watched``) and the vLLM server's
   share of it; the driver's own CPU time and peak RSS; bytes per clip of shards (per
   member kind), index, ledger and LLM cache; tokens per clip per agent from the index; the
   per-clip stage times the workers record in each sample's JSON (``timings``).

Inputs: `emodata samples make --no-bad` (espeak-ng speech over real face photos, a hard cut, a
monologue that is split) and talking clips of real read speech (LibriVox, Debian's
pocketsphinx-testdata) over the same photos.

    .venv/bin/python benchmarks/stage_rates.py [--librivox 5] [--seconds 12] [--no-annotate]
        [--reuse-part1]

Prints a table and writes benchmarks/out/stage_rates.json (part 1 is saved on its own first,
so a part 2 that fails can be rerun with --reuse-part1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from _common import EMODATA, OUT, librivox_speech, run_watched

from emodata.config import load_config
from emodata.records import Item
from emodata.samples import face_images, make_samples, talking_clip
from emodata.stages.base import Stage
from emodata.stages.cues import CuesStage
from emodata.stages.faces import FacesStage
from emodata.stages.ingest import IngestStage
from emodata.stages.segment import ScenePlanStage, SegmentStage
from emodata.stages.transcribe import TranscribeStage

# `make demo`'s annotate settings (Makefile DEMO_SET)
DEMO_SET = {
    "annotate.batch_size": 16,
    "annotate.agents.reasoner.max_tokens": 480,
    "annotate.agents.qa.max_tokens": 320,
    "annotate.backends.default.concurrency": 16,
}


def make_media(root: Path, librivox: int, seconds: float) -> list[Path]:
    """The sample set (no bad inputs) and ``librivox`` talking clips of real read speech."""
    done = root / "done.json"
    if done.exists():
        return [root / n for n in json.loads(done.read_text())]
    shutil.rmtree(root, ignore_errors=True)
    made = make_samples(root / "samples", bad=False)
    paths = [m.path for m in made]
    (root / "librivox").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        faces = face_images(tmp)
        for i in range(librivox):
            wav = librivox_speech(tmp / f"speech{i}.wav", seconds, i)
            dest = root / "librivox" / f"librivox_{i:02d}.mp4"
            talking_clip(faces[i % len(faces)], wav, dest)
            paths.append(dest)
    names = [str(Path(p).relative_to(root)) for p in paths]
    done.write_text(json.dumps(names))
    return [root / n for n in names]


def _cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (FFmpeg)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _each(stage: Stage, items: list[Item]) -> tuple[list[Item], list[tuple[float, float]]]:
    """``stage.process`` on one item at a time; (cpu_s, wall_s) per input item."""
    out: list[Item] = []
    per: list[tuple[float, float]] = []
    for item in items:
        c0, w0 = _cpu(), time.perf_counter()
        res = stage.process([item])
        per.append((_cpu() - c0, time.perf_counter() - w0))
        out.extend(r for r in res if r.ok)
    return out, per


def in_process(paths: list[Path]) -> dict[str, Any]:
    """Part 1: every non-LLM stage in this process, serially."""
    cfg = load_config()
    load = os.getloadavg()[0]
    sources = [Item(str(p), {"path": str(p), "meta": {}}) for p in paths]
    rows: dict[str, dict[str, Any]] = {}
    sources, per = _each(IngestStage(cfg.ingest), sources)
    source_s = sum(i.record.source.duration_s for i in sources)
    rows["ingest"] = {"per": per}
    clips, per = _each(ScenePlanStage(cfg.segment), sources)
    rows["scene plan"] = {"per": per}
    clips, per = _each(SegmentStage(cfg.segment), clips)
    rows["segment"] = {"per": per}
    for stage in (
        TranscribeStage(cfg.transcribe),
        FacesStage(cfg.faces),
        CuesStage(cfg.cues),
    ):
        c0, w0 = _cpu(), time.perf_counter()
        stage.setup()
        setup = (_cpu() - c0, time.perf_counter() - w0)
        clips, per = _each(stage, clips)
        rows[stage.name] = {"per": per, "setup_cpu_s": setup[0], "setup_wall_s": setup[1]}
    clip_s = sum(c.record.clip.end_s - c.record.clip.start_s for c in clips)
    for row in rows.values():
        per = row.pop("per")
        row["cpu_s_total"] = sum(c for c, _ in per)
        row["wall_s_total"] = sum(w for _, w in per)
        row["items"] = len(per)
    return {
        "sources": len(sources),
        "source_seconds": source_s,
        "clips": len(clips),
        "clip_seconds": clip_s,
        "stages": rows,
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
        "face_tracks_per_clip": statistics.mean(
            len(c.record.faces.tracks) if c.record.faces is not None else 0 for c in clips
        ),
    }


def _dir_bytes(path: Path, pattern: str = "*") -> int:
    return sum(f.stat().st_size for f in path.rglob(pattern) if f.is_file())


def _member_kind(name: str) -> str:
    ext = name.rsplit(".", 1)[-1]
    if ".face" in name:
        return "face crops"
    if ".frame" in name:
        return "frames"
    return {"mp4": "mp4", "wav": "wav", "json": "json"}.get(ext, ext)


def full_run(media: Path, out: Path, annotate: bool) -> dict[str, Any]:
    """Part 2: `emodata run` with every stage, every process's CPU counted."""
    stages = "ingest,segment,transcribe,faces,cues" + (",annotate" if annotate else "")
    cmd = [*EMODATA, "run", "--input", str(media), "--output", str(out), "--stages"]
    cmd += [f"{stages},write,validate"]
    for k, v in DEMO_SET.items():
        cmd += ["--set", f"{k}={v}"]
    # Ray's memory monitor kills workers when the machine's memory is nearly full, counting
    # other users' processes too: on a shared machine that restarts actors without end
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_memory_monitor_refresh_ms": "0"}
    for _ in range(3):  # Ray's 30 s start-up limit is missed on a machine loaded by others
        shutil.rmtree(out, ignore_errors=True)
        load = os.getloadavg()[0]
        w = run_watched(cmd, tags={"vllm server": "vllm.entrypoints"}, env=env)
        if w.returncode == 0 or "timed out during startup" not in w.stderr:
            break
    if w.returncode != 0:
        raise SystemExit(f"emodata run failed ({w.returncode}):\n{w.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    index = pq.read_table(out / "index").to_pylist()
    clips = len(index)
    member_bytes: dict[str, int] = defaultdict(int)
    timings: dict[str, list[float]] = defaultdict(list)
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                member_bytes[_member_kind(m.name)] += m.size
                if m.name.endswith(".json"):
                    f = tar.extractfile(m)
                    assert f is not None
                    for stage, s in (json.load(f).get("timings") or {}).items():
                        timings[stage].append(s)
    tokens: dict[str, Any] = {}
    annotated = [r for r in index if r.get("annotate_calls") is not None]
    if annotated:
        per_agent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in annotated:
            for agent, u in json.loads(r["annotate_tokens"] or "{}").items():
                for k in ("prompt_tokens", "completion_tokens", "calls"):
                    per_agent[agent][k] += u.get(k, 0)
        n = len(annotated)
        tokens = {
            "clips": n,
            "prompt_per_clip": sum(r["annotate_prompt_tokens"] for r in annotated) / n,
            "completion_per_clip": sum(r["annotate_completion_tokens"] for r in annotated) / n,
            "calls_per_clip": sum(r["annotate_calls"] for r in annotated) / n,
            "latency_s_per_clip": sum(r["annotate_latency_s"] or 0 for r in annotated) / n,
            "per_agent": {a: {k: v / n for k, v in u.items()} for a, u in per_agent.items()},
            "verdicts": dict(
                sorted(
                    {
                        v: sum(r["critic_verdict"] == v for r in annotated)
                        for v in {r["critic_verdict"] for r in annotated}
                    }.items()
                )
            ),
        }
    run = manifest["runs"][-1]
    return {
        "command": " ".join(cmd[2:]),
        "clips": clips,
        "clip_seconds": sum(r["duration_s"] for r in index),
        "wall_s": w.wall_s,
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
        "phase_timings": run["timings"],
        "tree_cpu_s": w.tree_cpu_s,
        "vllm_server_cpu_s": w.tagged_cpu_s["vllm server"],
        "driver_cpu_s": w.cpu_s,
        "driver_peak_rss": w.peak_rss,
        "bytes": {
            "shards": _dir_bytes(out / "shards", "*.tar"),
            "index": _dir_bytes(out / "index", "*.parquet"),
            "ledger": _dir_bytes(out / "failures", "*.parquet"),
            "llm_cache": _dir_bytes(out / "_state" / "llm_cache"),
            "ingest_cache": _dir_bytes(out / "_state" / "ingest", "*.parquet"),
            "members": dict(member_bytes),
        },
        "worker_timings_mean_s": {k: statistics.mean(v) for k, v in timings.items()},
        "tokens": tokens,
    }


def render(media: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> str:
    n, secs = a["clips"], a["clip_seconds"]
    lines = [
        f"inputs: {a['sources']} sources, {a['source_seconds']:.0f} s; "
        f"{n} clips, {secs:.0f} s ({secs / max(n, 1):.1f} s a clip); "
        f"{media['librivox']} of the sources are LibriVox read speech",
        "",
        "1. stages in one process, serial (CPU = this process + FFmpeg children); load average "
        f"{a['load_average_before']:.1f} before, {a['load_average_after']:.1f} after",
        f"{'stage':<12}{'CPU-s/clip':>11}{'wall-s/clip':>12}{'CPU-s/media-min':>17}"
        f"{'setup CPU-s':>13}",
    ]
    total = 0.0
    for name, row in a["stages"].items():
        per_clip = row["cpu_s_total"] / n
        total += per_clip
        setup = f"{row['setup_cpu_s']:.1f}" if "setup_cpu_s" in row else ""
        lines.append(
            f"{name:<12}{per_clip:>11.2f}{row['wall_s_total'] / n:>12.2f}"
            f"{row['cpu_s_total'] / secs * 60:>17.2f}{setup:>13}"
        )
    lines.append(f"{'sum':<12}{total:>11.2f}{'':>12}{total * n / secs * 60:>17.2f}")
    bn = b["clips"]
    lines += [
        "",
        f"2. emodata run, every stage ({bn} clips, {b['clip_seconds']:.0f} s): "
        f"wall {b['wall_s']:.0f} s, {bn / b['wall_s']:.3f} clips/s; load average "
        f"{b['load_average_before']:.1f} before, {b['load_average_after']:.1f} after",
        f"   CPU of every process: {b['tree_cpu_s']:.0f} s ({b['tree_cpu_s'] / bn:.1f} s/clip); "
        f"vLLM server {b['vllm_server_cpu_s']:.0f} s ({b['vllm_server_cpu_s'] / bn:.1f} s/clip); "
        f"driver {b['driver_cpu_s']:.0f} s, peak RSS {b['driver_peak_rss'] / 2**20:.0f} MiB",
        "   phases (s): " + ", ".join(f"{k} {v:g}" for k, v in b["phase_timings"].items()),
        "   worker wall per clip (s, sample JSON timings): "
        + ", ".join(f"{k} {v:.2f}" for k, v in b["worker_timings_mean_s"].items()),
        "   bytes per clip: "
        + ", ".join(
            f"{k} {v / bn / 1024:.1f} KiB"
            for k, v in b["bytes"].items()
            if k != "members" and isinstance(v, int)
        ),
        "   shard members per clip: "
        + ", ".join(f"{k} {v / bn / 1024:.1f} KiB" for k, v in b["bytes"]["members"].items()),
    ]
    t = b["tokens"]
    if t:
        lines += [
            f"   tokens per clip ({t['clips']} annotated): prompt {t['prompt_per_clip']:.0f}, "
            f"completion {t['completion_per_clip']:.0f}, calls {t['calls_per_clip']:.1f}, "
            f"model latency {t['latency_s_per_clip']:.1f} s; verdicts {t['verdicts']}",
            "   per agent (prompt/completion/calls): "
            + ", ".join(
                f"{a} {u['prompt_tokens']:.0f}/{u['completion_tokens']:.0f}/{u['calls']:.1f}"
                for a, u in t["per_agent"].items()
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--librivox", type=int, default=5, help="talking clips of LibriVox speech")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each LibriVox clip")
    ap.add_argument("--no-annotate", action="store_true", help="leave annotate out of part 2")
    ap.add_argument(
        "--reuse-part1", action="store_true", help="reuse part 1's saved figures for this media"
    )
    args = ap.parse_args()
    media = OUT / f"rates-media-{args.librivox}x{args.seconds:g}s"
    paths = make_media(media, args.librivox, args.seconds)
    saved = OUT / f"stage_rates-part1-{media.name}.json"
    if args.reuse_part1 and saved.exists():
        a = json.loads(saved.read_text())
    else:
        a = in_process(paths)
        saved.write_text(json.dumps(a, indent=2))
    b = full_run(media, OUT / "rates-run", annotate=not args.no_annotate)
    result = {"media": {"sources": len(paths), "librivox": args.librivox}, "in_process": a}
    result["run"] = b
    (OUT / "stage_rates.json").write_text(json.dumps(result, indent=2))
    print(render(result["media"], a, b))


if __name__ == "__main__":
    main()
