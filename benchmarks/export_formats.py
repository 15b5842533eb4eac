"""Release export speed per format, and identity clustering at 10,000 face tracks.

    .venv/bin/python benchmarks/export_formats.py [--samples 1000] [--people 200] [--tracks 10000]

1. Builds a synthetic run of ``--samples`` samples (real tiny MP4s and WAVs, face tracks with
   embeddings of ``--people`` people, annotation trees) through the project's writer, with an
   empty review store.
2. Exports it once per format (the webdataset release is always written: it carries the index;
   a text format adds its files and the media copy), then with every format, then with
   ``--split`` (identities and units) and ``--dedup near``, and prints seconds per 1,000
   exported samples, best of ``--repeats``.
3. Clusters ``--tracks`` synthetic face-track embeddings (``--tracks / 5`` people x 5 tracks,
   each a person's centre plus noise) for each embedding model and prints the time and whether
   the clusters are exactly the people.
4. Groups ``--clips`` synthetic clip signatures (8 frame hashes each; a fifth of the clips are
   copies of another with up to 6 bits flipped per frame) and prints the time and whether the
   groups are exactly the planted pairs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from emodata.exports import neardup
from emodata.exports.identity import cluster
from emodata.exports.plan import ReleaseOptions
from emodata.exports.settings import NearDupConfig
from emodata.review.export import export
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import People, SynthSpec, make_run

FORMATS = ("webdataset", "swift", "llava", "sharegpt", "merr", "emer")


def timed_export(run: Path, tmp: Path, options: ReleaseOptions, repeats: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for i in range(repeats):
        out = tmp / f"rel-{time.perf_counter_ns()}-{i}"
        t0 = time.perf_counter()
        res = export(str(run), str(out), options=options)
        best = min(best, time.perf_counter() - t0)
        n = res.counts["exported"]
        shutil.rmtree(out)
    return best, n


def clustering(tracks: int, model: str) -> tuple[float, bool]:
    people = People(tracks // 5, model, seed=1)
    persons = np.repeat(np.arange(tracks // 5), 5)
    x = np.array([people.embedding(int(p), i) for i, p in enumerate(persons)], dtype=np.float32)
    metric, limit = ("euclidean", 0.6) if model == "dlib-resnet-128" else ("cosine", 0.4)
    t0 = time.perf_counter()
    labels = cluster(x, metric, limit)
    seconds = time.perf_counter() - t0
    exact = len({(int(a), int(b)) for a, b in zip(labels, persons, strict=True)}) == tracks // 5
    return seconds, exact and labels.max() + 1 == tracks // 5


def grouping(clips: int) -> tuple[float, bool]:
    rng = np.random.default_rng(2)
    sigs = [rng.integers(0, 2**63, 8, dtype=np.uint64) for _ in range(clips)]
    copies = rng.choice(clips, clips // 5, replace=False)
    for n, i in enumerate(copies[: len(copies) // 2]):  # the first half copied by the second
        flips = rng.integers(0, 64, (8, n % 7))
        noise = np.array([sum(1 << int(b) for b in set(row)) for row in flips], dtype=np.uint64)
        sigs[int(copies[len(copies) // 2 + n])] = sigs[int(i)] ^ noise
    t0 = time.perf_counter()
    groups, _ = neardup.groups(sigs, NearDupConfig())
    seconds = time.perf_counter() - t0
    want = {frozenset((int(a), int(b))) for a, b in
            zip(copies[: len(copies) // 2], copies[len(copies) // 2 :], strict=True)}  # fmt: skip
    got: dict[int, set[int]] = {}
    for i, g in enumerate(groups.tolist()):
        if g >= 0:
            got.setdefault(g, set()).add(i)
    return seconds, {frozenset(v) for v in got.values()} == want


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--people", type=int, default=200)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--clips", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="emodata-bench-") as tmpdir:
        tmp = Path(tmpdir)
        run = tmp / "run"
        t0 = time.perf_counter()
        spec = SynthSpec(samples=args.samples, shard_samples=500, pool=8, size=64,
                         people=args.people, clips_per_source=4)  # fmt: skip
        make_run(str(run), spec)
        ReviewStore(store_path(str(run))).close()
        print(f"synthetic run: {args.samples} samples in {time.perf_counter() - t0:.1f} s")
        base, n = timed_export(run, tmp, ReleaseOptions.parse("webdataset"), args.repeats)
        print(f"\nexport, seconds per 1,000 exported samples (best of {args.repeats}):")
        print(f"  {'webdataset':<24}{base / n * 1000:7.2f}  ({n} samples)")
        for fmt in FORMATS[1:]:
            secs, n = timed_export(run, tmp, ReleaseOptions.parse(fmt), args.repeats)
            print(f"  {'+ ' + fmt:<24}{secs / n * 1000:7.2f}  (that format, and media copied)")
        cases = {
            "all six formats": ReleaseOptions.parse(",".join(FORMATS)),
            "--split 0.8/0.1/0.1": ReleaseOptions.parse(split="train=0.8,val=0.1,test=0.1"),
            "--dedup near": ReleaseOptions.parse(dedup="near"),
        }
        for name, options in cases.items():
            secs, n = timed_export(run, tmp, options, args.repeats)
            print(f"  {name:<24}{secs / n * 1000:7.2f}")
    print(f"\nidentity clustering, {args.tracks} tracks ({args.tracks // 5} people x 5):")
    for model in ("dlib-resnet-128", "arcface-512"):
        secs, exact = clustering(args.tracks, model)
        print(f"  {model:<24}{secs:7.2f} s  clusters == people: {exact}")
    secs, exact = grouping(args.clips)
    print(f"\nnear-duplicate grouping, {args.clips} clips x 8 frame hashes:")
    print(f"  {'dHash, 4 bands':<24}{secs:7.2f} s  groups == planted copies: {exact}")


if __name__ == "__main__":
    main()
