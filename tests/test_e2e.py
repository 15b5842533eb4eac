"""End-to-end: the real CLI on generated media, through Ray, FFmpeg and great_expectations."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from emodata import layout
from emodata.loader import dataloader

from .conftest import EMODATA, NO_LLM_STAGES, ROOT, run_cli

pytestmark = pytest.mark.slow

CONTENT = [
    "key",
    "source_id",
    "clip_index",
    "start_s",
    "end_s",
    "duration_s",
    "width",
    "height",
    "video_bytes",
    "audio_bytes",
    "num_frames",
    "has_audio",
]


def _index(out: Path) -> list[dict]:
    return sorted(pq.read_table(out / "index").to_pylist(), key=lambda r: r["key"])


def _ledger(out: Path) -> list[dict]:
    return pq.read_table(out / "failures").to_pylist()


def test_output_layout(demo_run):
    top = sorted(p.name for p in demo_run.iterdir())
    assert top == [
        "README.md",
        "_state",
        "failures",
        "index",
        "manifest.json",
        "progress.json",
        "shards",
    ]
    shards = sorted(p.name for p in (demo_run / "shards").iterdir())
    index = sorted(p.name for p in (demo_run / "index").iterdir())
    # shard-NNNNNN-TAG.tar: a number (each write task numbers its own files from its first
    # clip's planned place: unique, with gaps), then the run's tag
    tag = layout.run_tag(json.loads((demo_run / "manifest.json").read_text())["runs"][0]["run_id"])
    assert all(re.fullmatch(rf"shard-\d{{6}}-{tag}\.tar", s) for s in shards), shards
    assert [s.replace(".tar", ".parquet") for s in shards] == index
    ledger_files = [p.name for p in (demo_run / "failures").iterdir()]
    numbers = [layout.seq_of(n) for n in shards + ledger_files]
    assert len(set(numbers)) == len(numbers)  # no two files share a number
    assert all(
        re.fullmatch(rf"part-\d{{6}}-{tag}\.parquet", p.name)
        for p in (demo_run / "failures").iterdir()
    )
    assert sorted(p.name for p in (demo_run / "_state").iterdir()) == ["ingest", "logs"]
    assert [p.name[:4] for p in (demo_run / "_state" / "logs").iterdir()] == ["run-"]
    rows = _index(demo_run)
    assert all(r["shard"] in shards for r in rows)
    assert max(sum(1 for r in rows if r["shard"] == s) for s in shards) <= 5
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert set(manifest) >= {"config", "versions", "runs", "totals", "started_at"}
    assert manifest["totals"]["clips"] == len(rows)
    assert manifest["versions"]["ray"] and manifest["versions"]["ffmpeg"].startswith("ffmpeg")
    card = (demo_run / "README.md").read_text()
    assert f"**{len(rows)} clips**" in card and "CC0-1.0" in card
    assert not list(demo_run.rglob(".*.tmp"))


def test_every_input_lands_in_index_or_ledger(demo_run, expected, samples_dir):
    rows = _index(demo_run)
    ledger = _ledger(demo_run)
    for rel, want in expected.items():
        path = str(samples_dir / rel)
        in_index = [r for r in rows if r["source_path"] == path]
        in_ledger = [r for r in ledger if r["source_path"] == path]
        if want["expect"] == "index":
            assert in_index, f"{rel} should be in the index; ledger says {in_ledger}"
            assert not in_ledger
        else:
            assert not in_index, f"{rel} should not be in the index"
            assert [r["reason"] for r in in_ledger] == [want["reason"]], rel
    video_only = [r for r in rows if r["source_path"].endswith("video_only.mp4")]
    assert video_only and not video_only[0]["has_audio"] and video_only[0]["audio_bytes"] == 0
    portrait = next(r for r in rows if "portrait" in r["source_path"])
    assert (portrait["width"], portrait["height"]) == (360, 640)
    assert all(min(r["width"], r["height"]) <= 360 and r["fps"] == 25.0 for r in rows)


def test_manifest_metadata_and_segmentation(demo_run):
    rows = _index(demo_run)
    assert {r["source_dataset"] for r in rows} == {"emodata-samples"}
    happy = [r for r in rows if r["source_path"].endswith("talk_000_happy.mp4")]
    assert happy[0]["label"] == "happy"
    assert "glad" in json.loads(happy[0]["source_meta"])["transcript"]
    cut = sorted((r for r in rows if "scene_cut" in r["source_path"]), key=lambda r: r["start_s"])
    assert [r["boundary"] for r in cut] == ["start", "scene"]
    assert cut[0]["end_s"] == cut[1]["start_s"]
    long = [r for r in rows if "long_monologue" in r["source_path"]]
    assert len(long) >= 2 and all(r["duration_s"] <= 20.01 for r in long)
    assert all(
        r["stage_status"]
        == {
            "ingest": "ok",
            "segment": "ok",
            "transcribe": "ok" if r["has_audio"] else "no_audio",
            "faces": "ok",
            "cues": "ok",
            "annotate": None,
            "validate": "ok",
        }
        for r in rows
    )


def test_transcripts_match_the_spoken_text(demo_run, expected, samples_dir):
    from emodata.asr.wer import wer

    rows = _index(demo_run)
    checked = 0
    for rel, want in expected.items():
        if not rel.startswith("talk_"):
            continue
        (row,) = [r for r in rows if r["source_path"] == str(samples_dir / rel)]
        assert wer(want["text"], row["asr_text"]) <= 0.25, (rel, row["asr_text"])
        assert row["asr_language"] == "en" and 0.3 < row["asr_speech_ratio"] <= 1.0
        assert row["asr_model"] == "whisper-base" and row["asr_backend"] == "faster-whisper"
        checked += 1
    assert checked == 4
    video_only = [r for r in rows if r["source_path"].endswith("video_only.mp4")]
    assert video_only[0]["asr_text"] == "" and video_only[0]["asr_speech_ratio"] == 0.0


def test_faces_are_found_tracked_and_cropped(demo_run, samples_dir):
    rows = {r["source_path"]: r for r in _index(demo_run)}
    astronaut = rows[str(samples_dir / "talk_000_happy.mp4")]  # one face, panning
    assert astronaut["face_tracks"] == 1 and astronaut["main_face_presence"] >= 0.8
    group = rows[str(samples_dir / "talk_003_surprise.mp4")]  # insightface's t1: six people
    assert group["face_max_per_frame"] >= 4 and group["face_tracks"] >= 4
    assert all(r["faces_backend"] == "dlib" for r in rows.values())
    assert astronaut["main_expression"] == "happy"  # she smiles in the photo
    assert all(0 < r["cue_brightness"] < 1 for r in rows.values())
    assert astronaut["cue_f0_median_hz"] and 60 < astronaut["cue_f0_median_hz"] < 300
    assert 1.0 < astronaut["cue_speech_rate_wps"] < 6.0
    assert astronaut["main_gender"] == "female" and 25 <= astronaut["main_age"] <= 45
    # the sad sentence, slow, low and quiet: its voice is calmer than the happy one's
    sad = rows[str(samples_dir / "talk_001_sad.mp4")]
    assert astronaut["cue_words_valence"] > 0.5 and sad["cue_words_valence"] < -0.5
    assert -1 <= sad["cue_voice_arousal"] < 0 < astronaut["cue_voice_arousal"] <= 1


def test_loader_reads_back_every_sample(demo_run):
    rows = {r["key"]: r for r in _index(demo_run)}
    seen = {}
    for batch in dataloader(str(demo_run), batch_size=4, num_workers=2):
        for key, meta, audio, mp4, frames in zip(
            batch["key"], batch["meta"], batch["audio"], batch["mp4"], batch["frames"], strict=True
        ):
            assert meta["key"] == key and mp4[4:8] == b"ftyp"
            assert meta["transcript"]["text"] == rows[key]["asr_text"]
            crops = [c for t in meta["faces"]["tracks"] for c in t["crops"]]
            assert sorted(crops) == sorted(m for m in meta["members"] if m.startswith("face"))
            row = rows[key]
            assert len(mp4) == row["video_bytes"] and len(frames) == row["num_frames"]
            if row["has_audio"]:
                assert abs(len(audio) / 16000 - row["duration_s"]) < 0.1
            seen[key] = True
    assert sorted(seen) == sorted(rows)
    picked = list(dataloader(str(demo_run), query="duration_s > 10", batch_size=100))
    assert sorted(picked[0]["key"]) == sorted(k for k, r in rows.items() if r["duration_s"] > 10)


def test_status_stats_failures_commands(demo_run):
    out = run_cli("status", str(demo_run)).stdout
    assert "segment" in out and "ok" in out
    assert ": finished (done)" in out and "0 queued" in out and "seconds per clip: segment" in out
    out = run_cli("stats", str(demo_run)).stdout
    assert "zero_byte" in out and "duplicate" in out and "median_s" in out
    out = run_cli("failures", str(demo_run), "--json").stdout
    reasons = {json.loads(line)["reason"] for line in out.splitlines()}
    assert reasons == {
        "zero_byte",
        "unreadable",
        "truncated",
        "audio_only",
        "too_short",
        "duplicate",
    }
    out = run_cli("stats", str(demo_run), "--sql", "select count(*) as n from idx").stdout
    assert str(len(_index(demo_run))) in out


def test_rerun_skips_finished_work(demo_run, samples_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(demo_run, out)
    before = _index(out)
    shards = sorted(p.name for p in (out / "shards").iterdir())
    ledger = _ledger(out)
    res = run_cli(
        "run",
        "--input",
        str(samples_dir / "manifest.csv"),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        NO_LLM_STAGES,
        "--set",
        "write.max_shard_samples=5",
    )
    assert "0 clips written" in res.stdout
    assert _index(out) == before
    assert sorted(p.name for p in (out / "shards").iterdir()) == shards
    assert len(_ledger(out)) == len(ledger)
    assert len(json.loads((out / "manifest.json").read_text())["runs"]) == 2


def test_kill_midway_then_resume_equals_clean_run(demo_run, samples_dir, tmp_path):
    out = tmp_path / "killed"
    args = [
        *EMODATA,
        "run",
        "--input",
        str(samples_dir / "manifest.csv"),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        NO_LLM_STAGES,
        "--set",
        "write.max_shard_samples=1",
    ]
    proc = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if list((out / "index").glob("shard-*.parquet")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    partial = len(list((out / "index").glob("*.parquet")))
    assert 1 <= partial < len(_index(demo_run))
    # the clean run ingested and planned on the driver (a small run); the resume does it on Ray
    res = run_cli(
        "run",
        "--input",
        str(samples_dir / "manifest.csv"),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        NO_LLM_STAGES,
        "--set",
        "write.max_shard_samples=1",
        "--set",
        "ingest.local_max_inputs=0",
    )
    assert "already done" in res.stdout
    resumed = [{k: r[k] for k in CONTENT} for r in _index(out)]
    clean = [{k: r[k] for k in CONTENT} for r in _index(demo_run)]
    assert resumed == clean
    assert not list(out.rglob(".*.tmp"))


def test_validation_rows_to_ledger_and_batch_failure_stops(tmp_path, samples_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(samples_dir / "long_monologue.mp4", inputs)
    shutil.copy(samples_dir / "talk_001_sad.mp4", inputs)
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "short.json").write_text(
        json.dumps(
            {
                "name": "rows.short",
                "level": "row",
                "boundary": "write",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "duration_s", "max_value": 10},
                    }
                ],
            }
        )
    )
    (suites / "tiny.json").write_text(
        json.dumps(
            {
                "name": "index.tiny",
                "level": "batch",
                "boundary": "final",
                "expectations": [
                    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 5}}
                ],
            }
        )
    )
    out = tmp_path / "out"
    res = run_cli(
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        NO_LLM_STAGES,
        "--set",
        f"validate.suites_dir={suites}",
        check=False,
    )
    assert res.returncode == 3, res.stderr[-2000:]
    assert "validation failed" in res.stderr
    report = (out / "validation_report.md").read_text()
    assert "expect_table_row_count_to_be_between" in report
    rows = _index(out)
    assert rows and all(r["duration_s"] <= 10 for r in rows)
    ledger = _ledger(out)
    assert ledger and {r["reason"] for r in ledger} == {"expectation_failed"}
    assert all("duration_s" in r["message"] for r in ledger)


def test_bad_config_names_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("segment:\n  max_clip_s: -3\n")
    res = run_cli(
        "run",
        "--input",
        str(tmp_path),
        "--output",
        str(tmp_path / "o"),
        "--config",
        str(cfg),
        check=False,
    )
    assert res.returncode == 2 and "segment.max_clip_s" in res.stderr


def test_module_entry_point_runs():
    res = subprocess.run(
        [sys.executable, "-m", "emodata.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "run" in res.stdout and "samples" in res.stdout


def test_a_folder_run_accounts_for_every_file(ffmpeg_clip, tmp_path):
    """An audio-only .m4a is ledgered as audio_only and other files are counted, not dropped."""
    (tmp_path / "inputs").mkdir()
    clip = ffmpeg_clip("inputs/clip.mp4", duration=2.0)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vn",
            "-c:a",
            "aac",
            str(clip.parent / "memo.m4a"),
        ],
        check=True,
    )
    (clip.parent / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    res = run_cli(
        "run",
        "--input",
        str(clip.parent),
        "--output",
        str(out),
        "--num-cpus",
        "2",
        "--stages",
        "ingest,segment,write",
    )
    assert "1 file(s) in the input folder skipped: .txt=1" in res.stdout
    ledger = _ledger(out)
    assert [(r["source_path"].rsplit("/", 1)[1], r["reason"]) for r in ledger] == [
        ("memo.m4a", "audio_only")
    ]
    stats = run_cli("stats", str(out)).stdout
    assert "not media" in stats and ".txt" in stats
