"""Fixtures for the release tests: the shared synthetic run (tests/conftest.py), its reviews,
and a larger run of people filmed several times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emodata import stats
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run


@pytest.fixture
def reviewed(synth_run, tmp_path) -> dict:
    """A private copy of the run with three decisions: a correction, a rejection, an accept."""
    run = tmp_path / "run"
    shutil.copytree(synth_run, run)
    rows = stats.query(
        str(run), "select key, emotion_label from idx where qa_count is not null order by key"
    )
    fixed, rejected, accepted = rows[0], rows[1], rows[2]
    new_label = "sad" if fixed["emotion_label"] != "sad" else "fear"
    store = ReviewStore(store_path(str(run)))
    store.submit(
        fixed["key"],
        "alice",
        "correct",
        sample_version="v",
        edits={"label": new_label, "caption": "A reviewer's caption.", "qa": {"0": "An adult."}},
    )
    store.submit(rejected["key"], "alice", "reject", reason="blurred", sample_version="v")
    store.submit(accepted["key"], "bob", "accept", sample_version="v")
    store.close()
    critic = stats.query(str(run), "select key from idx where critic_verdict = 'rejected'")
    return {
        "run": run,
        # unreviewed trees the critic rejected: left out of a release by default
        "critic_rejected": {r["key"] for r in critic} - {r["key"] for r in rows[:3]},
        "fixed": fixed["key"],
        "label": new_label,
        "rejected": rejected["key"],
        "annotated": len(rows),
    }


@pytest.fixture(scope="session")
def people_run(tmp_path_factory) -> Path:
    """120 samples from 40 sources filmed by 10 people, every clip with a review store."""
    out = tmp_path_factory.mktemp("people") / "run"
    make_run(str(out), SynthSpec(samples=120, shard_samples=32, clips_per_source=3, people=10))
    ReviewStore(store_path(str(out))).close()
    return out
