"""A synthetic run of any size: real tiny MP4s, WAVs and face crops, written by the real writer.

Tests and the review benchmark need runs with annotations (the annotate stage may not have run)
and runs far larger than the pipeline can make on a laptop (100,000 samples). Media come from a
small pool of FFmpeg lavfi clips reused across samples; everything goes through
:class:`emodata.writer.ShardWriter`, so shard offsets, the index, the manifest and the card are
exactly what a pipeline run writes. A fixed share of samples lacks a transcript, faces or an
annotation, so the app and the export meet those cases too. Annotation trees follow
``schemas/annotation.schema.json``.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np

from emodata import report, stats
from emodata.config import RunConfig
from emodata.cues.face import LABELS
from emodata.fingerprint import frame_hashes
from emodata.media import float32_to_wav
from emodata.records import Item, clip_key
from emodata.review.synth_faces import People, faces_and_cues
from emodata.writer import LedgerBook, ShardWriter

# per label: (valence, arousal) around which the synthetic annotator scatters its values
AFFECT = {"angry": (-0.6, 0.7), "disgust": (-0.5, 0.3), "fear": (-0.7, 0.6), "happy": (0.7, 0.5),
          "sad": (-0.6, -0.4), "surprise": (0.2, 0.8), "neutral": (0.0, -0.2)}  # fmt: skip
DATASETS = (("MELD", "GPL-3.0"), ("CREMA-D", "ODbL-1.0"), ("vlogs", "CC-BY-4.0"))
WORDS = ("i", "really", "did", "not", "expect", "that", "to", "happen", "today", "we", "won",
         "lost", "again", "look", "at", "this", "why")  # fmt: skip


@dataclass(frozen=True)
class SynthSpec:
    """How a synthetic run looks. The ``*_every`` knobs make every Nth sample lack a part."""

    samples: int = 40
    seed: int = 0
    clips_per_source: int = 4
    shard_samples: int = 16
    pool: int = 4
    clip_s: float = 1.0
    size: int = 96
    no_transcript_every: int = 7
    no_faces_every: int = 5
    no_annotation_every: int = 9
    wav_every: int = 1
    #: > 0: face tracks carry embeddings of this many people, each filmed in several sources
    people: int = 0
    embedding_model: str = "dlib-resnet-128"
    #: > 0: sampled frames (frameNNN.jpg) at this rate, taken from the pool clip; the pool's
    #: clips then show distinct content (a cellular automaton from a seed per clip), so only
    #: samples sharing a pool clip are near-duplicates
    frame_rate: float = 0.0
    #: with frames: record their dHashes (frame_hashes) as the segment stage does
    frame_hashes: bool = True


@dataclass
class Pool:
    """The media samples reuse: clips, face crops and each clip's sampled frames."""

    clips: list[bytes]
    crops: list[bytes]
    frames: list[list[bytes]]


def _lavfi_pool(spec: SynthSpec, tmp: Path) -> Pool:
    """``spec.pool`` distinct H.264 clips, JPEG 'face crops' and (``spec.frame_rate``) sampled
    frames, from FFmpeg test sources."""
    n, seconds, size = spec.pool, spec.clip_s, spec.size
    clips, crops, frames = [], [], []
    for i in range(n):
        mp4, jpg = tmp / f"c{i}.mp4", tmp / f"f{i}.jpg"
        hue = f"hue=h={i * 360 // max(n, 1)}"
        video = f"-i testsrc2=size={size}x{size}:rate=10:duration={seconds} -vf {hue}"
        if spec.frame_rate > 0:  # a random pattern of its own per clip
            pattern = f"cellauto=size={size}x{size}:rate=10:rule=18:seed={spec.seed * 1000 + i}"
            video = f"-i {pattern} -t {seconds} -vf {hue}"
        encode = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -movflags +faststart"
        crop = f"-i testsrc=size=112x112:rate=1:duration=1 -vf {hue} -frames:v 1"
        for args, dest in ((f"{video} {encode}", mp4), (crop, jpg)):
            cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", *args.split(), str(dest)]
            subprocess.run(cmd, check=True)
        clips.append(mp4.read_bytes())
        crops.append(jpg.read_bytes())
        frames.append([])
        if spec.frame_rate > 0:
            pattern = tmp / f"c{i}_%03d.jpg"
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-vf",
                   f"fps={spec.frame_rate}", "-q:v", "3", str(pattern)]  # fmt: skip
            subprocess.run(cmd, check=True)
            frames[-1] = [p.read_bytes() for p in sorted(tmp.glob(f"c{i}_*.jpg"))]
    return Pool(clips, crops, frames)


def _voice(rng: random.Random, seconds: float) -> bytes:
    """A gliding tone with a syllable-like envelope: real pitch and loudness to chart."""
    t = np.arange(int(16000 * seconds)) / 16000
    f0 = rng.uniform(110, 240) * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    env = 0.2 + 0.25 * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return float32_to_wav((env * np.sin(phase)).astype(np.float32))


def _transcript(rng: random.Random, seconds: float) -> dict[str, Any]:
    n = rng.randint(3, 7)
    step = seconds / (n + 1)
    words = [
        {
            "start": round(i * step, 3),
            "end": round((i + 0.8) * step, 3),
            "word": " " + rng.choice(WORDS),
            "probability": round(rng.uniform(0.6, 1.0), 3),
        }
        for i in range(n)
    ]
    text = "".join(w["word"] for w in words).strip()
    return {
        "language": "en",
        "language_probability": 0.99,
        "text": text,
        "segments": [
            {"start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words}
        ],
        "speech_ratio": round(words[-1]["end"] / seconds, 3),
        "duration_s": seconds,
        "model": "synthetic",
        "backend": "synthetic",
        "extra": {},
    }


def annotation_tree(rng: random.Random, label: str, text: str, seconds: float) -> dict[str, Any]:
    """An affective tree valid against schemas/annotation.schema.json."""
    val = max(-1.0, min(1.0, AFFECT[label][0] + rng.uniform(-0.2, 0.2)))
    aro = max(-1.0, min(1.0, AFFECT[label][1] + rng.uniform(-0.2, 0.2)))
    verdict = rng.choices(("accepted", "revised", "rejected"), (6, 3, 1))[0]
    reasons = [] if verdict == "accepted" else [f"cue c2 does not support '{label}'"]
    caption = f"A person looks {label} while speaking in a bright room."
    return {
        "attributes": [
            {
                "subject": "t0",
                "age_range": "25-35",
                "gender_presentation": "feminine",
                "appearance": "short dark hair",
                "context": "indoor, studio light",
            }
        ],
        "expressions": [
            {
                "modality": "facial",
                "description": f"{label} face",
                "start_s": 0.0,
                "end_s": seconds,
                "track": "t0",
                "cues": ["c1"],
            },
            {
                "modality": "vocal",
                "description": "raised pitch",
                "start_s": 0.0,
                "end_s": seconds,
                "track": None,
                "cues": ["c2"],
            },
        ],
        "emotion": {
            "label": label,
            "terms": [label, "tense" if val < 0 else "warm"],
            "valence": round(val, 3),
            "arousal": round(aro, 3),
            "confidence": round(rng.uniform(0.3, 0.99), 3),
        },
        "rationale": [
            {"claim": f"the face scores highest on {label}", "cues": ["c1"]},
            {"claim": "the voice rises in pitch", "cues": ["c2", "c3"]},
        ],
        "caption": caption,
        "qa": [
            {"kind": "attribute", "question": "Who is in the clip?", "answer": "A young adult."},
            {"kind": "emotion", "question": "What emotion is shown?", "answer": label},
            {
                "kind": "reasoning",
                "question": "Why?",
                "answer": f"Facial cues and the words '{text[:30]}'.",
            },
        ],
        "critic": {
            "verdict": verdict,
            "reasons": reasons,
            "revisions": int(verdict != "accepted"),
            "checks": [{"name": "cues_exist", "ok": True, "detail": "", "claim": ""}],
        },
        "cues": {
            "c1": {"value": 0.6, "text": f"main face: {label} 0.6"},
            "c2": {"value": 180.0, "text": "median pitch 180 Hz"},
            "c3": {"text": f"transcript: {text[:40]!r}"},
        },
        "sources": {
            "attributes[0].age_range": "measured",
            "attributes[0].gender_presentation": "measured",
            "attributes[0].appearance": "model",
            "emotion": "model",
            "caption": "model",
        },
        "provenance": {
            "reasoner": {
                "backend": "synthetic",
                "model": "none",
                "prompt_version": "v1",
                "cached": False,
            }
        },
    }


def _item(
    i: int, spec: SynthSpec, rng: random.Random, pool: Pool, people: People | None = None
) -> Item:
    src, clip = divmod(i, spec.clips_per_source)
    sid = hashlib.sha256(f"synth-{spec.seed}-{src}".encode()).hexdigest()
    start, secs = clip * spec.clip_s, spec.clip_s
    dataset, licence = DATASETS[src % len(DATASETS)]
    label = LABELS[rng.randrange(len(LABELS))]
    mp4 = pool.clips[i % len(pool.clips)]
    has_wav = i % spec.wav_every == 0
    rec: dict[str, Any] = {
        "path": f"/synthetic/{dataset}/src{src:06d}.mp4",
        "meta": {"source_dataset": dataset, "license": licence, "label": label},
        "source_id": sid[:20],
        "source_sha256": sid,
        "source_duration_s": secs * spec.clips_per_source,
        "source_size_bytes": 1000,
        "source_clip_count": spec.clips_per_source,
        "clip_index": clip,
        "start_s": start,
        "end_s": start + secs,
        "duration_s": secs,
        "boundary": "start" if clip == 0 else "split",
        "width": spec.size,
        "height": spec.size,
        "fps": 10.0,
        "has_audio": has_wav,
        "video_bytes": len(mp4),
        "num_frames": 0,
        "segment_seconds": 0.0,
        "stage_status": {"ingest": "ok", "segment": "ok"},
    }
    blobs = {"mp4": mp4}
    if has_wav:
        blobs["wav"] = _voice(rng, secs)
    rec["audio_bytes"] = len(blobs.get("wav", b""))
    for k, frame in enumerate(pool.frames[i % len(pool.clips)]):
        blobs[f"frame{k:03d}.jpg"] = frame
    if spec.frame_rate > 0:
        frames = pool.frames[i % len(pool.clips)]
        rec.update(frame_rate=spec.frame_rate, num_frames=len(frames))
        if spec.frame_hashes:
            rec["frame_hashes"] = frame_hashes(frames)
    text = ""
    if i % spec.no_transcript_every != 3:
        t = _transcript(rng, secs)
        text = t["text"]
        rec["transcript"] = t
        rec["stage_status"]["transcribe"] = "ok"
    if i % spec.no_faces_every != 2:
        rec["faces"], cues = faces_and_cues(rng, label, secs)
        rec["cues"] = cues.to_dict()  # the flat record is JSON-shaped; Item reads it back
        if people is not None:
            person = people.person_of_source(src)
            rec["faces"]["embedding_model"] = people.model
            rec["faces"]["tracks"][0]["embedding"] = people.embedding(person, i)
            rec["synth_person"] = person  # ground truth for tests (the record's extra)
        blobs["face0_0.jpg"] = pool.crops[i % len(pool.crops)]
        rec["stage_status"].update(faces="ok", cues="ok")
    if i % spec.no_annotation_every != 4:
        rec["annotation"] = annotation_tree(rng, label, text, secs)
        rec["stage_status"]["annotate"] = "ok"
    return Item(clip_key(sid[:20], start, start + secs), rec, blobs)


def make_run(
    out_dir: str, spec: SynthSpec | None = None, edit: Callable[[int, Item], Item] | None = None
) -> dict[str, Any]:
    """Write a complete run (shards, index, manifest, card) of ``spec.samples`` samples.

    ``edit(i, item)``, when given, may change each item before it is written (tests use it to
    plant hostile samples that the real writer then indexes like any other)."""
    spec = spec or SynthSpec()
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    rng = random.Random(spec.seed)
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-synth{spec.seed}"
    cfg = RunConfig(input="synthetic", output=out_dir)
    ledger = LedgerBook({}, run_id)
    writer = ShardWriter(
        fs,
        root,
        first_seq=0,
        max_bytes=1 << 40,
        max_samples=spec.shard_samples,
        include_frames=True,
        run_id=run_id,
        config_fingerprint=cfg.fingerprint(),
        ledger=ledger,
    )
    with tempfile.TemporaryDirectory() as tmp:
        pool = _lavfi_pool(spec, Path(tmp))
    people = People(spec.people, spec.embedding_model, spec.seed) if spec.people else None
    for i in range(spec.samples):
        item = _item(i, spec, rng, pool, people)
        writer.add(edit(i, item) if edit is not None else item)
    writer.close()
    summary = stats.summary(out_dir)
    run_info = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "ended_at": datetime.now(UTC).isoformat(),
        "wall_seconds": 0.0,
        "stages": ["synthetic"],
        "input": "synthetic",
        "counts": {"written": writer.samples_written, "shards_written": writer.shards_written},
    }
    manifest = report.write_manifest(fs, root, run_info, cfg.dump(), summary["clips"])
    report.write_card(fs, root, manifest, summary)
    return {"samples": writer.samples_written, "shards": len(writer.shards_written)}
