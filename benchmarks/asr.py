"""ASR on this machine: real-time factor, WER, model load time and peak memory per backend and
model, and the transcribe stage's throughput on Ray with 1 versus 2 actors.

Speech: the five LibriVox clips of Debian's pocketsphinx-testdata and six espeak-ng sentences,
each with its known transcript. Each model is measured in its own process so peak memory is its
own.

    .venv/bin/python benchmarks/asr.py [--models whisper-tiny.en whisper-base] [--repeat 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(ROOT))

from emodata.asr.wer import word_errors  # noqa: E402
from emodata.config import TranscribeConfig  # noqa: E402
from emodata.media import float32_to_wav  # noqa: E402
from emodata.samples import SENTENCES  # noqa: E402
from tests.asr.conftest import SR, espeak, librivox  # noqa: E402


def corpus() -> dict[str, list[tuple[np.ndarray, str]]]:
    tmp = Path(tempfile.mkdtemp())
    return {
        "librivox": [(a, ref) for _, a, ref in librivox()],
        "espeak": [(espeak(text, tmp), text) for _, text in SENTENCES[:6]],
    }


def one(model: str, threads: int, backend_name: str) -> dict:
    from emodata.stages.transcribe import make_backend

    data = corpus()
    t0 = time.perf_counter()
    backend = make_backend(TranscribeConfig(model=model, threads=threads, backend=backend_name))
    backend.load()
    load_s = time.perf_counter() - t0
    out = {"model": model, "backend": backend.name, "threads": threads, "load_s": load_s}
    total_audio = total_time = 0.0
    for name, clips in data.items():
        errors = words = 0
        for audio, ref in clips:
            t = time.perf_counter()
            text = backend.transcribe(audio).text
            total_time += time.perf_counter() - t
            total_audio += len(audio) / SR
            e, n = word_errors(ref, text)
            errors, words = errors + e, words + n
        out[f"wer_{name}"] = errors / words
    out["rtf"] = total_time / total_audio
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def actors(model: str, counts: list[int], repeat: int) -> list[dict]:
    """The transcribe stage as a Ray actor pool over the same clips, with k actors."""
    import ray

    from emodata import ray_adapter
    from emodata.records import Item
    from emodata.stages.transcribe import TranscribeStage

    clips = [a for group in corpus().values() for a, _ in group] * repeat
    audio_s = sum(len(a) for a in clips) / SR
    ray_adapter.init_ray(None, 2, False)
    ray_adapter.configure_context(True)
    results = []
    for k in counts:
        items = [
            Item(f"c{i}", {"duration_s": len(a) / SR}, {"wav": float32_to_wav(a)})
            for i, a in enumerate(clips)
        ]
        cfg = TranscribeConfig(model=model, actors=k, threads=1, batch_size=2)
        ds = ray_adapter.apply_stage(
            ray_adapter.from_items(items, 16, max_rows_per_block=2), TranscribeStage(cfg), k
        )
        t0 = time.perf_counter()
        n = sum(1 for item in ray_adapter.iter_items(ds) if item.record.transcript is not None)
        wall = time.perf_counter() - t0
        results.append(
            {
                "actors": k,
                "clips": n,
                "audio_s": audio_s,
                "wall_s": wall,
                "audio_s_per_s": audio_s / wall,
            }
        )
    ray.shutdown()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["whisper-tiny.en", "whisper-base"])
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="faster-whisper", help=argparse.SUPPRESS)
    ap.add_argument("--backends", nargs="+", default=["faster-whisper", "whisperx"])
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.threads, args.backend)))
        return
    print(
        f"{'backend':15} {'model':16} {'thr':>3} {'load s':>7} {'RTF':>6} {'WER libri':>9} "
        f"{'WER espeak':>10} {'peak MiB':>8}"
    )
    runs = [(b, m, t) for b in args.backends for m in args.models for t in (1, 2)]
    for backend, model, threads in runs:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            model,
            "--threads",
            str(threads),
            "--backend",
            backend,
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(
            f"{r['backend']:15} {r['model']:16} {threads:3d} {r['load_s']:7.2f} "
            f"{r['rtf']:6.3f} {r['wer_librivox']:9.3f} {r['wer_espeak']:10.3f} "
            f"{r['peak_rss_mib']:8.0f}"
        )
    for model in args.models:
        res = actors(model, [1, 2], args.repeat)
        for r in res:
            print(
                f"ray actor pool {model}: {r['actors']} actor(s), {r['clips']} clips, "
                f"{r['audio_s']:.0f} s audio in {r['wall_s']:.1f} s = "
                f"{r['audio_s_per_s']:.2f} audio-s/s"
            )
        print(f"  speed-up 2 vs 1 actors: {res[0]['wall_s'] / res[1]['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
