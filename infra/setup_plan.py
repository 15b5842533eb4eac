"""Which Debian packages set-up still has to install, given what the machine already has.

Standard library only: this runs before `.venv` exists. `infra/setup.sh` asks for the *next*
package, installs that one alone, and asks again, so a package that a previous install brought in
(npm inside NodeSource's nodejs) is never requested, and a conflict names exactly one package.

    python3 infra/setup_plan.py demo|test           the next missing package, or nothing
    python3 infra/setup_plan.py demo|test --all     every missing package, one per line
    python3 infra/setup_plan.py demo|test --skip P  ignore P (one that failed already)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/transcription"


@dataclass(frozen=True)
class Need:
    """One Debian package, what shows it is present, and which targets need it."""

    package: str
    commands: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    targets: frozenset[str] = frozenset({"demo", "test"})
    why: str = ""


# Order matters: nodejs comes before npm, so that a nodejs which bundles npm (NodeSource's does,
# and then conflicts with Debian's npm package) satisfies npm before npm is ever asked for.
NEEDS: tuple[Need, ...] = (
    Need("ffmpeg", commands=("ffmpeg", "ffprobe"), why="decoding and encoding media"),
    Need("espeak-ng", commands=("espeak-ng",), why="speech in the sample media"),
    Need("sox", commands=("sox",), why="audio in the sample media"),
    Need(
        "pocketsphinx-testdata",
        files=(LIBRIVOX,),
        targets=frozenset({"test"}),
        why="real LibriVox speech for the ASR accuracy tests",
    ),
    Need(
        "chromium",
        commands=("chromium",),
        targets=frozenset({"test"}),
        why="browser tests of the review app",
    ),
    Need(
        "tmux",
        commands=("tmux",),
        targets=frozenset({"test"}),
        why="terminal tests of the live progress view",
    ),
    Need("nodejs", commands=("node",), targets=frozenset({"test"}), why="playwright-core"),
    Need("npm", commands=("npm",), targets=frozenset({"test"}), why="installing playwright-core"),
)

TARGETS = ("demo", "test")


def missing(
    target: str,
    have_command: Callable[[str], bool],
    have_file: Callable[[str], bool],
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Packages `target` needs that are absent, in install order."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    out = []
    for need in NEEDS:
        if target not in need.targets or need.package in skip:
            continue
        present = all(have_command(c) for c in need.commands) and all(
            have_file(f) for f in need.files
        )
        if not present:
            out.append(need.package)
    return out


def next_package(
    target: str,
    have_command: Callable[[str], bool],
    have_file: Callable[[str], bool],
    skip: frozenset[str] = frozenset(),
) -> str | None:
    """The one package to install now; ask again after installing it."""
    todo = missing(target, have_command, have_file, skip)
    return todo[0] if todo else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--all", action="store_true", help="every missing package")
    parser.add_argument("--skip", action="append", default=[], help="a package to leave out")
    parser.add_argument("--why", metavar="PACKAGE", help="why set-up wants PACKAGE")
    args = parser.parse_args(argv)
    if args.why:
        print(next((n.why for n in NEEDS if n.package == args.why), ""))
        return 0

    def have_command(name: str) -> bool:
        return shutil.which(name) is not None

    def have_file(path: str) -> bool:
        return Path(path).exists()

    skip = frozenset(args.skip)
    if args.all:
        todo = missing(args.target, have_command, have_file, skip)
    else:
        one = next_package(args.target, have_command, have_file, skip)
        todo = [one] if one else []
    for package in todo:
        print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
