"""What the driver carries during a run on Ray: media bytes it receives (counted by the runner,
``counts.driver_media_bytes`` in the run manifest), status bytes per clip, and its peak memory,
against the bytes the workers wrote into shards (which all went through the driver before the
write tasks moved onto the workers).

The run goes through Ray even though it is small (``ingest.local_max_inputs=0``), with the
stages that make media: ingest, segment, write, validate.

    .venv/bin/python benchmarks/driver_load.py [--inputs 12] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess

from _common import EMODATA, OUT, ROOT, TreeMemory, synthetic_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    media = OUT / f"driver-load-{args.inputs}x{args.seconds:g}"
    media.mkdir(parents=True, exist_ok=True)
    for i in range(args.inputs):
        dest = media / f"clip_{i:04d}.mp4"
        if not dest.exists():
            synthetic_clip(dest, args.seconds, i, size="480x360")
    out = OUT / "driver-load-run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*EMODATA, "run", "--input", str(media), "--output", str(out)]
    cmd += ["--stages", "ingest,segment,write,validate", "--set", "ingest.local_max_inputs=0"]
    cmd += ["--set", "write.max_shard_samples=4"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with TreeMemory(proc.pid) as mem:
        _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"emodata run failed ({proc.returncode}): {err.decode()[-2000:]}")
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    counts = run["counts"]
    written = counts["written"]
    shard_bytes = sum(p.stat().st_size for p in (out / "shards").glob("*.tar"))
    print(f"inputs {args.inputs} x {args.seconds:g} s -> {written} clips in "
          f"{len(counts['shards_written'])} shards written by the workers")  # fmt: skip
    print(f"media bytes received by the driver: {counts['driver_media_bytes']}")
    print(f"status bytes received by the driver: {counts['driver_status_bytes']} "
          f"({counts['driver_status_bytes'] / max(written, 1):.0f} per clip)")  # fmt: skip
    print(f"shard bytes written on the workers: {shard_bytes} "
          f"({shard_bytes / max(written, 1) / 1024:.0f} KiB per clip)")  # fmt: skip
    print(f"driver peak PSS: {mem.peak_root / 2**20:.0f} MiB; all processes (PSS): "
          f"{mem.peak_total / 2**20:.0f} MiB; wall {run['wall_seconds']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
