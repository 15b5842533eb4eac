"""Fixtures for the review tests: synthetic runs (real media, real writer) and review stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emodata.review.queue import ReviewQueue
from emodata.review.store import ReviewStore, store_path
from emodata.review.synth import SynthSpec, make_run


@pytest.fixture(scope="session")
def synth_template(tmp_path_factory) -> Path:
    """A 60-sample synthetic run, made once; tests copy it before writing decisions."""
    out = tmp_path_factory.mktemp("synth") / "run"
    make_run(str(out), SynthSpec(samples=60, shard_samples=16))
    return out


@pytest.fixture
def run_dir(synth_template, tmp_path) -> Path:
    """A private copy of the synthetic run (its own review store)."""
    dest = tmp_path / "run"
    shutil.copytree(synth_template, dest)
    return dest


@pytest.fixture
def store(run_dir) -> ReviewStore:
    s = ReviewStore(store_path(str(run_dir)))
    yield s
    s.close()


@pytest.fixture
def queue(run_dir, store) -> ReviewQueue:
    return ReviewQueue(str(run_dir), store)
