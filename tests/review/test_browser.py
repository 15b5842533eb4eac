"""The real thing: `emodata review` serving on 127.0.0.1, driven by Debian's headless chromium.

Set-up (infra/setup.sh) installs chromium with apt and playwright-core with `npm ci` in
tests/browser/; playwright never downloads a browser of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from emodata import stats
from emodata.review.store import ReviewStore, store_path
from tests.conftest import EMODATA, ROOT, free_port

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def browser_ready() -> None:
    """Fail loudly (not skip) when set-up has not installed the browser tooling."""
    missing = [
        what
        for what, ok in (
            ("chromium", Path(CHROMIUM).exists()),
            ("node", shutil.which("node") is not None),
            ("playwright-core", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
        )
        if not ok
    ]
    if missing:
        pytest.fail(f"browser test tooling missing ({', '.join(missing)}): run infra/setup.sh")


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"review app exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.25)  # the server is still starting: poll its health endpoint again
    raise AssertionError(f"review app not healthy after {timeout_s}s")


def start_app(run_dir: Path, log_dir: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (log_dir / f"app-{port}.log").open("w")
    proc = subprocess.Popen(
        [*EMODATA, "review", str(run_dir), "--port", str(port), *extra],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so the cleanup reaches everything
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
    except AssertionError:
        stop_app(proc)
        raise AssertionError((log_dir / f"app-{port}.log").read_text()[-4000:]) from None
    return proc, base


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def served(run_dir, tmp_path) -> Iterator[str]:
    browser_ready()
    proc, base = start_app(run_dir, tmp_path)
    yield base
    stop_app(proc)


def node(script: str, *args: str, timeout: float = 240) -> dict:
    proc = subprocess.run(
        ["node", str(BROWSER_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BROWSER_DIR,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_clip_plays_and_decisions_reach_the_store_and_other_sessions(served, run_dir):
    rows = stats.query(
        str(run_dir), "select key from idx where emotion_label is not null order by key"
    )
    accept_key, correct_key = rows[0]["key"], rows[1]["key"]
    caption = "Reviewed in a real browser."
    out = node("review_flow.mjs", served, accept_key, correct_key, caption)

    video = out["video"]
    assert video["error"] is None, video
    assert video["readyState"] >= 2 and video["duration"] > 0.5 and video["width"] == 96, video
    assert video["src"].startswith("data:video/mp4;base64,")  # inline: no /media URL

    history = ReviewStore(store_path(str(run_dir))).all()
    assert [(d.sample_key, d.reviewer, d.decision) for d in history] == [
        (accept_key, "alice", "accept"),
        (correct_key, "alice", "correct"),
    ]
    assert history[1].edits == {"caption": caption}
    # bob, in another browser session, sees alice's decisions
    assert "alice correct (caption)" in out["bob_corrected"]
    assert "status corrected" in out["bob_corrected"]
    assert "alice accept" in out["bob_accepted"]
    assert "status accepted" in out["bob_accepted"]


@pytest.mark.slow
def test_review_off_loopback_needs_a_token(run_dir):
    proc = subprocess.run(
        [*EMODATA, "review", str(run_dir), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "EMODATA_REVIEW_TOKEN"},
        check=False,
    )
    assert proc.returncode != 0
    assert "needs an access token" in proc.stderr
