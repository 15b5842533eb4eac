"""Segmenting a set of clips: plain FFmpeg commands in a loop versus `emodata run`.

Both sides do the same media work per source: a scene-detection decode, then for every clip one
FFmpeg command writing the normalized MP4, the 16 kHz WAV and the sampled frames. The loop runs
FFmpeg with its default threading (all cores); emodata runs one single-threaded FFmpeg per core
on Ray and adds hashing, probing, shard writing and the index. Prints both times and the ratio.

    .venv/bin/python benchmarks/segment_vs_ffmpeg.py [--sources 20] [--seconds 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time

from _common import EMODATA, OUT, ROOT, synthetic_clip

from emodata.config import load_config
from emodata.media import encode_clip, probe, scene_cuts
from emodata.stages.segment import encode_spec, plan_clips


def plain_ffmpeg(sources: list, cfg) -> tuple[float, int]:
    s = cfg.segment
    spec = encode_spec(s, threads=0)
    t0 = time.perf_counter()
    clips = 0
    for src in sources:
        info = probe(str(src))
        cuts = scene_cuts(str(src), s.scene_threshold, 600, threads=0)
        planned, _ = plan_clips(info.duration_s, cuts, s.min_clip_s, s.max_clip_s)
        for c in planned:
            encode_clip(str(src), c.start_s, c.end_s, info.has_audio, spec)
            clips += 1
    return time.perf_counter() - t0, clips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    media = OUT / f"segment-{args.sources}x{args.seconds:g}s"
    media.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(args.sources):
        dest = media / f"src_{i:03d}.mp4"
        if not dest.exists():
            synthetic_clip(dest, args.seconds, i)
        sources.append(dest)
    cfg = load_config()
    base_t, base_clips = plain_ffmpeg(sources, cfg)
    out = OUT / "segment-run"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(
        [
            *EMODATA,
            "run",
            "--input",
            str(media),
            "--output",
            str(out),
            "--stages",
            "ingest,segment,write",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    run_t = time.perf_counter() - t0
    import pyarrow.parquet as pq

    run_clips = pq.read_table(out / "index").num_rows
    total_s = args.sources * args.seconds
    print(f"input: {args.sources} sources x {args.seconds:g}s = {total_s / 60:.1f} min of video")
    print(f"plain ffmpeg loop : {base_t:7.1f} s  ({base_clips} clips)")
    print(
        f"emodata run       : {run_t:7.1f} s  ({run_clips} clips, incl. Ray start-up,"
        f" hashing, probing, shards, index)"
    )
    print(f"ratio emodata / ffmpeg = {run_t / base_t:.2f}x (goal <= 1.25x)")


if __name__ == "__main__":
    main()
