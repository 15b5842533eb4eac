"""Fixtures for the review tests: private copies of the shared synthetic run, review stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emodata.review.queue import ReviewQueue
from emodata.review.store import ReviewStore, store_path


@pytest.fixture
def run_dir(synth_run, tmp_path) -> Path:
    """A private copy of the shared synthetic run (tests/conftest.py), with its own review store."""
    dest = tmp_path / "run"
    shutil.copytree(synth_run, dest)
    return dest


@pytest.fixture
def store(run_dir) -> ReviewStore:
    s = ReviewStore(store_path(str(run_dir)))
    yield s
    s.close()


@pytest.fixture
def queue(run_dir, store) -> ReviewQueue:
    return ReviewQueue(str(run_dir), store)
