from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMODATA = [sys.executable, "-m", "emodata.cli"]

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*EMODATA, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"emodata {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def hold_lease(root: Path, run_id: str) -> None:
    """Write DIR's lease as ``run_id``'s, held by this process: what a run does before its
    write tasks, which check it before each commit (``emodata.lease.check_held``)."""
    from emodata.lease import Holder, _encode

    (root / "_state").mkdir(parents=True, exist_ok=True)
    (root / "_state" / "lease.json").write_bytes(_encode(Holder.me(run_id)))


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    """The generated sample media (talking clips, a scene cut, bad inputs), made once."""
    out = tmp_path_factory.mktemp("samples")
    run_cli("samples", "make", str(out), "--talking", "4")
    return out


@pytest.fixture(scope="session")
def expected(samples_dir) -> dict:
    return json.loads((samples_dir / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory) -> Path:
    """A 60-sample synthetic run (real media, real writer), made once for the review and release
    tests; a test that writes decisions copies it first."""
    from emodata.review.synth import SynthSpec, make_run

    out = tmp_path_factory.mktemp("synth") / "run"
    make_run(str(out), SynthSpec(samples=60, shard_samples=16))
    return out


#: Every stage but annotate: LLM annotation has its own, smaller end-to-end tests (tests/annotate).
NO_LLM_STAGES = "ingest,segment,transcribe,faces,cues,write,validate"


@pytest.fixture(scope="session")
def demo_run(samples_dir, tmp_path_factory) -> Path:
    """One full pipeline run over the samples, through the real CLI, shared by read-only tests."""
    out = tmp_path_factory.mktemp("run") / "out dir é"
    proc = run_cli(
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
    (out.parent / "cli.stdout").write_text(proc.stdout)
    (out.parent / "cli.stderr").write_text(proc.stderr)
    return out


@pytest.fixture
def ffmpeg_clip(tmp_path):
    """Factory for small synthetic clips made with lavfi."""

    def make(
        name: str = "clip.mp4",
        duration: float = 3.0,
        size: str = "320x240",
        rate: str = "25",
        audio: bool = True,
    ) -> Path:
        path = tmp_path / name
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate={rate}:duration={duration}",
        ]
        if audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={duration}"]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        if audio:
            cmd += ["-c:a", "aac", "-shortest"]
        subprocess.run([*cmd, str(path)], check=True)
        return path

    return make


def pytest_configure(config):
    if shutil.which("ffmpeg") is None:
        raise pytest.UsageError("ffmpeg is not installed: run `make test`, which sets it up")


def _has_cuda_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True, check=False).returncode == 0


#: A test that uses one of these fixtures is marked ``slow``: each makes its media or its output
#: with the real CLI (espeak-ng, FFmpeg, a pipeline run on Ray), and whatever reads them is part
#: of an end-to-end check. Other slow tests carry the marker in their own file.
SLOW_FIXTURES = frozenset({"samples_dir", "expected", "demo_run"})

#: Tests left unmarked should each take less than this; longer ones are named after the run.
FAST_LIMIT_S = 5.0

_unmarked_s: dict[str, float] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark tests that use a slow fixture ``slow`` (before ``-m`` selects), and skip ``gpu``
    tests where no CUDA GPU is (CI), reporting them skipped."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if not any("gpu" in item.keywords for item in items) or _has_cuda_gpu():
        return
    skip = pytest.mark.skip(reason="marked gpu: needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


#: Set in the child that runs an ``own_process`` test, so that it runs the test itself.
OWN_PROCESS_ENV = "EMODATA_TEST_OWN_PROCESS"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run a test marked ``own_process`` in a child pytest: Ray cannot start a second session in a
    process whose first one was shut down (ray-project/ray#31145: background threads keep the
    first core worker's pointers, and the process crashes later, at the latest when it exits).
    The parent's fixtures are set up as usual; the child sets up its own."""
    if pyfuncitem.get_closest_marker("own_process") is None or os.environ.get(OWN_PROCESS_ENV):
        return None
    timeout = pyfuncitem.config.getini("timeout") or 900
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath,
        env={**os.environ, OWN_PROCESS_ENV: "1"},
        capture_output=True,
        text=True,
        timeout=float(timeout) - 30,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{pyfuncitem.nodeid} failed in its own process ({proc.returncode}):\n"
            f"{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return True


def pytest_runtest_logreport(report):
    """Time each test that is not marked ``slow`` (set-up, call and teardown together)."""
    if "slow" not in report.keywords and not report.skipped:
        _unmarked_s[report.nodeid] = _unmarked_s.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """Name the unmarked tests that took longer than FAST_LIMIT_S: they belong under ``slow``."""
    over = sorted(((s, n) for n, s in _unmarked_s.items() if s > FAST_LIMIT_S), reverse=True)
    if over:
        terminalreporter.write_sep("=", f"tests not marked slow that took over {FAST_LIMIT_S:g} s")
        for seconds, nodeid in over:
            terminalreporter.write_line(f"{seconds:6.1f}s {nodeid}")
