"""infra/setup_plan.py: which Debian packages set-up installs, decided without apt."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .conftest import ROOT

_spec = importlib.util.spec_from_file_location("setup_plan", ROOT / "infra" / "setup_plan.py")
plan = importlib.util.module_from_spec(_spec)
sys.modules["setup_plan"] = plan  # dataclasses look their module up there
_spec.loader.exec_module(plan)

EVERYTHING = {"ffmpeg", "ffprobe", "espeak-ng", "sox", "chromium", "tmux", "node", "npm"}


def _machine(commands: set[str], librivox: bool = True):
    return (lambda c: c in commands), (lambda f: librivox and f == plan.LIBRIVOX)


def test_a_complete_machine_needs_nothing():
    have_cmd, have_file = _machine(EVERYTHING)
    assert plan.missing("test", have_cmd, have_file) == []
    assert plan.missing("demo", have_cmd, have_file) == []


def test_demo_needs_no_browser_and_no_node():
    have_cmd, have_file = _machine(set(), librivox=False)
    assert plan.missing("demo", have_cmd, have_file) == ["ffmpeg", "espeak-ng", "sox"]


def test_a_bare_machine_gets_everything_for_tests_nodejs_before_npm():
    have_cmd, have_file = _machine(set(), librivox=False)
    todo = plan.missing("test", have_cmd, have_file)
    assert todo == [
        "ffmpeg",
        "espeak-ng",
        "sox",
        "pocketsphinx-testdata",
        "chromium",
        "tmux",
        "nodejs",
        "npm",
    ]


def test_nodejs_that_bundles_npm_never_asks_for_debian_npm():
    """NodeSource's nodejs ships npm and conflicts with Debian's npm package: the CI machine's
    case, where asking apt for `chromium nodejs npm` failed with 'held broken packages'."""
    have_cmd, have_file = _machine(EVERYTHING - {"chromium"})
    assert plan.missing("test", have_cmd, have_file) == ["chromium"]


def test_installing_one_package_at_a_time_rechecks_what_it_brought():
    """Installing nodejs brings npm on a NodeSource machine: the next question is not npm."""
    present = {"ffmpeg", "ffprobe", "espeak-ng", "sox", "chromium", "tmux"}
    have_file = lambda f: True  # noqa: E731
    assert plan.next_package("test", present.__contains__, have_file) == "nodejs"
    present |= {"node", "npm"}  # what NodeSource's nodejs package installs
    assert plan.next_package("test", present.__contains__, have_file) is None


def test_ffmpeg_needs_both_commands():
    have_cmd, have_file = _machine(EVERYTHING - {"ffprobe"})
    assert plan.missing("demo", have_cmd, have_file) == ["ffmpeg"]


def test_a_package_that_failed_is_skipped_and_the_rest_still_planned():
    have_cmd, have_file = _machine(set(), librivox=False)
    todo = plan.missing("test", have_cmd, have_file, skip=frozenset({"chromium", "npm"}))
    assert "chromium" not in todo and "npm" not in todo and "tmux" in todo


def test_unknown_target_is_an_error():
    with pytest.raises(ValueError, match="unknown target"):
        plan.missing("deploy", lambda c: True, lambda f: True)


def test_command_line_prints_one_package_or_nothing():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "setup_plan.py"), "demo", "--all"],
        capture_output=True,
        text=True,
        check=True,
    )
    # this machine ran set-up: nothing left for the demo
    assert proc.stdout == ""
    why = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "setup_plan.py"), "test", "--why", "chromium"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "browser" in why.stdout
