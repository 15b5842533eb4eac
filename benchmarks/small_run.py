"""A small run's fixed cost: `emodata run --stages ingest,segment,write` on 9 inputs (about 2.5
minutes of video, one of them 4K) against a plain FFmpeg script doing the same kind of work, and
where emodata's start-up time goes.

The inputs are made from real material available offline: face photos shipped in packages,
LibriVox read speech from Debian's pocketsphinx-testdata, hard scene cuts between photos, and one
3840x2160 clip. The plain script does, per file and two files at a time: one ffprobe, one scene
pass, one 360p/25 fps H.264 transcode and one 16 kHz mono WAV of the whole file. emodata does the
same per file plus hashing, clip planning, one encode per clip, sampled frames, shards and the
index. Both sides run in one invocation, on the same files, so the ratio is comparable.

    .venv/bin/python benchmarks/small_run.py [--repeat 2] [--long 4]

``--long N`` adds N long inputs (160 s of 1280x720 each, a hard cut every 20 s, read speech
throughout): with 4, the set is over 13 minutes of video, most of it in files with many clips.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import EMODATA, OUT, ROOT, librivox_speech

from emodata.samples import concat_clips, face_images, talking_clip


def _ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_inputs(media: Path, long: int = 0) -> list[Path]:
    """9 files, about 150 s in all: talking photos with cuts, longer ones, one 4K clip; plus
    ``long`` files of 160 s."""
    done = media / "done.json"
    if done.exists():
        return [media / n for n in json.loads(done.read_text())]
    media.mkdir(parents=True, exist_ok=True)
    tmp = media / "tmp"
    tmp.mkdir(exist_ok=True)
    faces = face_images(tmp)
    names = []
    plan = [(12.0, "640x480", 2)] * 5 + [(22.0, "1280x720", 2)] * 3 + [(20.0, "3840x2160", 2)]
    plan += [(160.0, "1280x720", 8)] * long
    for i, (seconds, size, cuts) in enumerate(plan):
        half = seconds / cuts
        parts = []
        for k in range(cuts):  # photos back to back: a hard cut between two
            wav = librivox_speech(tmp / f"s{i}_{k}.wav", half, i + k)
            part = tmp / f"p{i}_{k}.mp4"
            talking_clip(faces[(i + k) % len(faces)], wav, part, size=size)
            parts.append(part)
        name = f"in_{i}_{size}.mp4"
        concat_clips(parts, media / name)
        names.append(name)
    shutil.rmtree(tmp)
    done.write_text(json.dumps(names))
    return [media / n for n in names]


def _plain_one(src: Path, dest: Path) -> None:
    subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(src)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(src),
            "-vf",
            "select='gt(scene,0.3)',showinfo",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
    )
    _ff(
        "-i",
        str(src),
        "-vf",
        "scale=-2:360,fps=25",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-an",
        str(dest / f"{src.stem}.mp4"),
    )
    _ff("-i", str(src), "-vn", "-ac", "1", "-ar", "16000", str(dest / f"{src.stem}.wav"))


def children_cpu() -> float:
    """CPU seconds of every child process waited for so far (their children included)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def plain_ffmpeg(sources: list[Path]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of the plain script."""
    dest = OUT / "small-run-plain"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    cpu, t0 = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: _plain_one(s, dest), sources))
    return time.perf_counter() - t0, children_cpu() - cpu


def emodata_run(sources: list[Path], code: Path = ROOT) -> tuple[float, dict, str, float, float]:
    """Wall seconds, the run's manifest entry, its log text, the wall-clock start and the CPU
    seconds of the run and its FFmpeg children."""
    out = OUT / f"small-run-emodata-{code.name}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*EMODATA, "run", "--input", str(sources[0].parent), "--output", str(out)]
    started = time.time()
    cpu, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(
        [*cmd, "--stages", "ingest,segment,write"],
        check=True,
        cwd=code,
        capture_output=True,
        text=True,
    )
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    logs = sorted((out / "_state" / "logs").glob("run-*.log"))
    text = proc.stderr + "".join(p.read_text() for p in logs)
    return wall, run, text, started, cpu


def log_breakdown(text: str, started: float, wall: float) -> dict[str, float]:
    """Seconds between the run's log lines (HH:MM:SS): for versions without recorded timings."""
    marks = {
        "imports and discovery": r"discovered \d+ input",
        "ray start (+ suites)": r"ingest: \d+ cached",
        "ingest": r"segment: \d+ source\(s\) to do",
        "plan": r"segment: \d+ clip\(s\) to encode",
    }
    day = time.strftime("%Y-%m-%d", time.localtime(started))
    out, last = {}, started
    for name, pattern in marks.items():
        m = re.search(r"(\d\d:\d\d:\d\d) .*" + pattern, text)
        if not m:
            continue
        at = time.mktime(time.strptime(f"{day} {m.group(1)}", "%Y-%m-%d %H:%M:%S"))
        out[name] = max(0.0, at - last)
        last = at
    out["process, write and exit"] = started + wall - last
    return out


def import_seconds() -> float:
    """The CLI process's own start: interpreter plus what `emodata run` imports first."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import emodata.cli, emodata.runner"], check=True)
    return time.perf_counter() - t0


def duration(path: Path) -> float:
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    return float(subprocess.run([*cmd, str(path)], capture_output=True, text=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--long", type=int, default=0, help="long inputs to add (160 s each)")
    ap.add_argument("--baseline-checkout", type=Path, help="another checkout to time as well")
    args = ap.parse_args()
    media = OUT / ("small-run-media" + (f"-long{args.long}" if args.long else ""))
    sources = make_inputs(media, args.long)
    seconds = sum(duration(s) for s in sources)
    print(f"inputs: {len(sources)} files, {seconds:.0f} s of video (one 3840x2160)")
    rows, base_rows = [], []
    # wall time on a shared machine swings between minutes; CPU seconds swing less
    for _ in range(args.repeat):
        plain, plain_cpu = plain_ffmpeg(sources)
        ours, run, _, _, cpu = emodata_run(sources)
        rows.append((plain, ours, run))
        line = (
            f"plain ffmpeg {plain:6.1f} s ({plain_cpu:5.1f} CPU-s)   emodata {ours:6.1f} s "
            f"({cpu:5.1f} CPU-s)   ratio {ours / plain:.2f}x wall, {cpu / plain_cpu:.2f}x CPU"
        )
        if args.baseline_checkout:
            base, _, text, started, _ = emodata_run(sources, args.baseline_checkout.resolve())
            base_rows.append((plain, base, log_breakdown(text, started, base)))
            line += f"   baseline {base:6.1f} s   ratio {base / plain:.2f}x"
        print(line, flush=True)
    plain, ours, run = min(rows, key=lambda r: r[1] / r[0])
    print(f"best ratio: {ours / plain:.2f}x ({run['counts']['written']} clips written)")
    print("emodata start-up and phases (best run):")
    print(f"  {'interpreter + imports':40} {import_seconds():6.2f} s  (separate process)")
    for name, value in (run.get("timings") or {}).items():
        print(f"  {name:40} {value:6.2f} s")
    rest = ours - run["wall_seconds"]
    print(f"  {'process wall - run wall':40} {rest:6.2f} s  (imports, Ray shutdown)")
    if base_rows:
        bplain, base, breakdown = min(base_rows, key=lambda r: r[1] / r[0])
        print(f"baseline best ratio: {base / bplain:.2f}x; its breakdown from log lines:")
        for name, value in breakdown.items():
            print(f"  {name:40} {value:6.1f} s")


if __name__ == "__main__":
    main()
