"""Near-duplicate clips: real FFmpeg re-encodes found by the segment stage's own signature,
candidates found without comparing all pairs, groups in the release, dedup and splits."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from emodata import stats
from emodata.config import SegmentConfig
from emodata.exports import neardup
from emodata.exports.plan import ReleaseOptions
from emodata.exports.settings import NearDupConfig
from emodata.records import ClipRecord, ClipSpan, Item, Source
from emodata.review.export import export
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run
from emodata.stages.segment import SegmentStage
from tests.conftest import run_cli


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _signature(path: Path, seconds: float) -> list[str]:
    """The clip's signature as the segment stage records it (default frame rate)."""
    record = ClipRecord(
        Source(path=str(path), has_audio=False), ClipSpan(start_s=0.0, end_s=seconds)
    )
    (out,) = SegmentStage(SegmentConfig()).process([Item("k", record)])
    assert out.ok, out.error
    return out.record.clip.frame_hashes


def test_a_reencoded_recut_copy_is_found_and_other_sources_are_not(tmp_path):
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    zoom = "mandelbrot=size=480x360:rate=25:start_scale=2:end_scale=0.5"
    _ffmpeg("-f", "lavfi", "-i", zoom, "-t", "6", *x264, "-b:v", "3M", str(tmp_path / "a.mp4"))
    # another bitrate and size, cut half a second later
    _ffmpeg("-ss", "0.5", "-i", str(tmp_path / "a.mp4"), "-vf", "scale=320:240", *x264,
            "-b:v", "150k", str(tmp_path / "b.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=480x360:rate=25", "-t", "6", *x264,
            str(tmp_path / "c.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "cellauto=size=480x360:rate=25:rule=110", "-t", "6", *x264,
            str(tmp_path / "d.mp4"))  # fmt: skip
    sigs = {
        name: _signature(tmp_path / f"{name}.mp4", 5.5 if name == "b" else 6.0) for name in "abcd"
    }
    assert len(sigs["a"]) == 6 and len(sigs["b"]) >= 5
    group, counts = neardup.groups([neardup.parse(s) for s in sigs.values()], NearDupConfig())
    assert group.tolist() == [0, 0, -1, -1]
    assert counts["groups"] == 1 and counts["clips_in_groups"] == 2
    strict = NearDupConfig(max_hamming=0, min_share=1.0)  # no longer "near"
    assert neardup.groups([neardup.parse(s) for s in sigs.values()], strict)[0].max() == -1


def test_candidates_find_every_pair_within_seven_bits():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 300, dtype=np.uint64)
    near = base.copy()
    for i in range(len(near)):  # 0..7 random bit flips each
        for bit in rng.choice(64, size=i % 8, replace=False):
            near[i] ^= np.uint64(1) << np.uint64(int(bit))
    sigs = [np.array([h], dtype=np.uint64) for h in np.concatenate([base, near])]
    found = {tuple(p) for p in neardup.candidates(sigs, probe_radius=1).tolist()}
    assert {(i, i + 300) for i in range(300)} <= found
    assert len(found) < 1000  # chance band matches only: not all 179,700 pairs


def test_batched_comparison_equals_the_pairwise_rule():
    rng = np.random.default_rng(5)
    sigs = [rng.integers(0, 2**63, rng.integers(0, 12), dtype=np.uint64) for _ in range(80)]
    for i in range(0, 78, 3):  # copies with a few bits flipped, some shorter
        sigs[i + 1] = (sigs[i] ^ np.uint64(0b1011))[: max(1, len(sigs[i]) - i % 3)]
    pairs = np.array([(i, j) for i in range(80) for j in range(i + 1, 80)])
    for cfg in (NearDupConfig(), NearDupConfig(max_hamming=3, min_share=1.0)):
        want = [neardup.similar(sigs[i], sigs[j], cfg.max_hamming, cfg.min_share) for i, j in pairs]
        got = neardup.similar_pairs(sigs, pairs, cfg, chunk=333)
        assert got.tolist() == want and 10 < sum(want) < 100


def test_flat_frames_carry_no_signature():
    assert neardup.parse(["0000000000000000", "ffffffffffffffff", "00ff00ff00ff00ff"]).tolist() == [
        0x00FF00FF00FF00FF
    ]
    black = [neardup.parse(["0000000000000000"])] * 2
    assert neardup.groups(black, NearDupConfig())[0].tolist() == [-1, -1]


@pytest.fixture(scope="module")
def dup_runs(tmp_path_factory) -> dict[str, Path]:
    """40 samples over 36 distinct clips (samples 36-39 repeat clips 0-3): 4 groups of two.
    ``hashed`` records frame hashes as the segment stage does; ``legacy`` predates them."""
    out = {}
    for name, hashed in (("hashed", True), ("legacy", False)):
        run = tmp_path_factory.mktemp(name) / "run"
        spec = SynthSpec(samples=40, pool=36, frame_rate=2.0, clips_per_source=2,
                         frame_hashes=hashed)  # fmt: skip
        make_run(str(run), spec)
        ReviewStore(store_path(str(run))).close()
        out[name] = run
    return out


def _groups(release: Path) -> dict[str, set[str]]:
    out = defaultdict(set)
    for r in stats.query(str(release), "select key, near_dup_group from idx"):
        if r["near_dup_group"]:
            out[r["near_dup_group"]].add(r["key"])
    return out


@pytest.mark.slow
def test_groups_in_the_release_with_and_without_recorded_hashes(dup_runs, tmp_path):
    found = {}
    for name, run in dup_runs.items():
        res = export(str(run), str(tmp_path / name), options=ReleaseOptions.parse(dedup=None,
                     split="train=0.5,test=0.5", critic_rejected=True))  # fmt: skip
        nd = res.checks["near_dup"]
        assert nd["groups"] == 4 and nd["clips_in_groups"] == 8 and nd["dropped"] == 0
        assert nd["signatures_computed"] == (40 if name == "legacy" else 0)
        found[name] = _groups(tmp_path / name)
        rows = {r["key"]: r for r in stats.query(str(tmp_path / name), "select * from idx")}
        for keys in found[name].values():
            assert len({rows[k]["split"] for k in keys}) == 1  # a group stays in one split
        assert res.checks["leakage"]["near_dup_groups"] == 0
    assert sorted(map(sorted, found["hashed"].values())) == sorted(
        map(sorted, found["legacy"].values())
    )
    card = (tmp_path / "hashed" / "README.md").read_text()
    assert "## Near-duplicates" in card and "**4 groups**" in card


@pytest.mark.slow
def test_dedup_near_keeps_one_per_group_by_the_rule(dup_runs, tmp_path):
    run = dup_runs["hashed"]
    res = export(
        str(run),
        str(tmp_path / "d"),
        options=ReleaseOptions.parse(dedup="near", critic_rejected=True),
    )
    assert res.counts["excluded_near_duplicate"] == 4 and res.counts["exported"] == 36
    rank = {"accepted": 3, "revised": 2, None: 1, "rejected": 0}
    src = stats.query(str(run), "select key, duration_s, critic_verdict from idx")
    kept = {r["key"] for r in stats.query(str(tmp_path / "d"), "select key from idx")}
    groups = _groups(tmp_path / "d")
    assert len(groups) == 4 and all(len(g) == 1 for g in groups.values())
    full = _groups_of(run, tmp_path)
    for members in full.values():
        rows = [r for r in src if r["key"] in members]
        best = min(rows, key=lambda r: (-r["duration_s"], -rank[r["critic_verdict"]], r["key"]))
        assert members & kept == {best["key"]}


def _groups_of(run: Path, tmp_path: Path) -> dict[str, set[str]]:
    export(
        str(run),
        str(tmp_path / "all"),
        options=ReleaseOptions.parse(split="all=1", critic_rejected=True),
    )
    return _groups(tmp_path / "all")


@pytest.mark.slow
def test_cli_dedup_summary(dup_runs, tmp_path):
    proc = run_cli("export", str(dup_runs["legacy"]), "--out", str(tmp_path / "r"), "--dedup",
                   "near", "--include-critic-rejected")  # fmt: skip
    assert "near-duplicates: 4 groups (8 clips), 4 left out" in proc.stdout
    proc = run_cli("export", str(dup_runs["legacy"]), "--out", str(tmp_path / "j"), "--dedup",
                   "near", "--include-critic-rejected", "--json")  # fmt: skip
    assert json.loads(proc.stdout)["checks"]["near_dup"]["dropped"] == 4
