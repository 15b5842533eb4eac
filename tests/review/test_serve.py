"""`emodata review` start-up checks: loopback by default, a token beyond it, a clear extra hint."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from emodata.review import serve
from emodata.review.serve import ServeError, is_loopback, prepare
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("host", "loop"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_loopback_command_and_environment(run_dir):
    cmd, env = prepare(str(run_dir), "127.0.0.1", 8600, None, None)
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-2:] == ["--", str(run_dir)]
    assert env["EMODATA_REVIEW_STORE"] == str(run_dir / "review" / "decisions.sqlite")
    assert "EMODATA_REVIEW_TOKEN" not in env
    assert (run_dir / "review" / "decisions.sqlite").exists()


def test_beyond_loopback_needs_a_token_kept_off_the_command_line(run_dir):
    with pytest.raises(ServeError, match="needs an access token"):
        prepare(str(run_dir), "0.0.0.0", 8600, None, None)
    cmd, env = prepare(str(run_dir), "0.0.0.0", 8600, "tok-123", None)
    assert env["EMODATA_REVIEW_TOKEN"] == "tok-123"
    assert not any("tok-123" in part for part in cmd)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ServeError, match="no index"):
        prepare(str(tmp_path), "127.0.0.1", 8600, None, None)


def test_missing_streamlit_names_the_extra(run_dir, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"install emodata\[ui\]"):
        prepare(str(run_dir), "127.0.0.1", 8600, None, None)


def test_cli_without_streamlit(run_dir):
    code = (
        "import sys; sys.modules['streamlit'] = None\n"
        "from emodata.cli import main\n"
        f"main(['review', {str(run_dir)!r}])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 1
    assert "install emodata[ui]" in proc.stderr


def test_app_file_is_found():
    assert serve.APP == ROOT / "annotator_ui" / "app.py"
