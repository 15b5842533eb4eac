"""The driver hands back what a phase freed (``emodata.heap``).

Each case runs in a fresh interpreter: what a long test process already holds in its heaps
(and how fragmented they are) would decide the figures otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/status"
)

_PHASE = textwrap.dedent(
    """
    import json, sys, threading
    import pyarrow as pa
    from emodata import heap

    def anon():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) / 1024 for l in f if l.startswith("RssAnon"))

    def decode():  # as Ray Data's iterator threads decode item batches
        batches = [pa.array([b"r" * 200] * 300, pa.binary()) for _ in range(400)]
        del batches

    before = anon()
    threads = [threading.Thread(target=decode) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    in_use = pa.default_memory_pool().bytes_allocated()
    held = anon()
    heap.release()
    print(json.dumps({"pool": pa.default_memory_pool().backend_name, "in_use": in_use,
                      "held": held - before, "after": anon() - before}))
    """
)


def _phase() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _PHASE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_release_returns_what_the_allocators_kept_after_a_phase() -> None:
    got = _phase()
    assert got["in_use"] < 2**20  # every batch freed ...
    assert got["held"] > 10  # ... and still held by the allocators (MiB)
    assert got["after"] < got["held"] / 2, got


def test_the_driver_can_take_glibc_as_its_arrow_pool() -> None:
    code = (
        "import pyarrow as pa; from emodata import heap; heap.use_system_pool(); "
        "a = pa.array([b'x' * 64] * 1000); heap.trim(); "
        "print(pa.default_memory_pool().backend_name, "
        "pa.system_memory_pool().bytes_allocated() > 0, [p.backend_name for p in heap._replaced])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pool, allocated, replaced = out.stdout.split(maxsplit=2)
    assert (pool, allocated) == ("system", "True")
    # the pool Arrow's C++ started with is still released by each trim
    assert replaced not in ("[]", "['system']"), replaced


_CHOSEN = (
    "import os, sys; from emodata import cli; cli._driver_arrow_pool(); import pyarrow as pa; "
    "print(pa.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))"
)


def _chosen(env: dict[str, str], prelude: str = "") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", prelude + _CHOSEN],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return out.stdout.split()


def test_the_command_chooses_glibc_for_arrow_before_pyarrow_loads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    # the C++ pool itself is glibc's, and Ray's workers started later do not inherit the choice
    assert _chosen(env) == ["system", "None"]
    # a user's own choice wins
    assert _chosen({**env, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"})[1] == "jemalloc"
    # pyarrow loaded first: its pool stays, and heap.use_system_pool covers pyarrow's calls
    assert _chosen(env, "import pyarrow; ")[0] != "system"
