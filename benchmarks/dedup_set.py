"""The run's dedup set (content id -> kept path over all windows): the SQLite table the runner
uses (``emodata.dedup.ContentIds``) against a dict, for N synthetic sources taken in windows.
Each side runs in a child process of its own, so its peak RSS is its own.

    .venv/bin/python benchmarks/dedup_set.py [--sources 1000000] [--window 5000]
        [--cache-kib 8192]
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import subprocess
import sys
import time


def _child(kind: str, sources: int, window: int, cache_kib: int) -> dict:
    from emodata.dedup import ContentIds

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kept = ContentIds(cache_kib) if kind == "table" else {}
    t0 = time.perf_counter()
    last = 0.0
    for w in range(sources // window):
        ids = {secrets.token_hex(10): f"/data/in/{w:05d}/clip{i:06d}.mp4" for i in range(window)}
        t = time.perf_counter()
        if kind == "table":
            kept.first_paths(list(ids))
            kept.add(ids)
        else:
            _ = {k: kept[k] for k in ids if k in kept}
            kept.update(ids)
        last = time.perf_counter() - t
    out = {
        "kind": kind,
        "wall_s": round(time.perf_counter() - t0, 2),
        "last_window_ms": round(last * 1000, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "growth_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, 1),
    }
    if kind == "table":
        kept.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=5000)
    ap.add_argument("--cache-kib", type=int, default=8192, help="SQLite's page cache")
    ap.add_argument("--child", choices=["table", "dict"])
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.sources, args.window, args.cache_kib)))
        return
    print(f"{args.sources} sources in windows of {args.window}; page cache {args.cache_kib} KiB")
    for kind in ("dict", "table"):
        cmd = [sys.executable, __file__, "--child", kind, "--sources", str(args.sources)]
        cmd += ["--cache-kib", str(args.cache_kib)]
        proc = subprocess.run([*cmd, "--window", str(args.window)], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        per = r["growth_mib"] * 1024 / args.sources
        print(f"  {kind:7} {r['wall_s']:7.1f} s   last window {r['last_window_ms']:7.1f} ms   "
              f"peak RSS {r['peak_rss_mib']:7.1f} MiB   growth {r['growth_mib']:7.1f} MiB "
              f"({per:.3f} KiB per source)")  # fmt: skip


if __name__ == "__main__":
    main()
