"""The driver hands back what a phase freed (``emodata.heap``)."""

from __future__ import annotations

import sys
import threading

import pyarrow as pa
import pytest

from emodata import heap


def _anon_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_release_returns_what_arrow_and_malloc_kept_after_a_phase() -> None:
    before = _anon_mib()

    def decode() -> None:  # as Ray Data's iterator threads decode item batches
        batches = [pa.array([b"r" * 200] * 300, pa.binary()) for _ in range(400)]
        del batches

    threads = [threading.Thread(target=decode) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pa.default_memory_pool().bytes_allocated() < 2**20  # all of it freed ...
    held = _anon_mib()
    assert held - before > 40  # ... and still held by the allocators
    heap.release()
    assert _anon_mib() - before < (held - before) / 2
