"""Planning and encoding overlapped on the driver's threads (``emodata.local_flow``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from emodata.errors import Reason
from emodata.local_flow import LocalFlow
from emodata.records import ClipRecord, ClipSpan, Item, Source
from emodata.stages.base import Stage


class Plan(Stage):
    """Two clips per source, one span too short to keep; ``slow.mp4`` plans slowly."""

    name = "segment"

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def process_item(self, item: Item) -> list[Item]:
        if item.key == "slow.mp4":
            assert self.release.wait(10), "the other sources' clips never started encoding"
        if item.key == "broken.mp4":
            raise RuntimeError("no scene pass")
        out = []
        for n in range(2):
            rec = ClipRecord(Source(path=item.key), clip=ClipSpan(start_s=n, end_s=n + 1))
            out.append(Item(f"{item.key}#{n}", rec))
        short = Item(f"{item.key}#short", ClipRecord(Source(path=item.key)))
        out.append(short.fail(self.name, Reason.SCENE_TOO_SHORT, "0.1 s"))
        return out


class Encode(Stage):
    name = "segment"

    def __init__(self, release: threading.Event) -> None:
        self.release, self.started = release, []

    def process_item(self, item: Item) -> list[Item]:
        self.started.append(item.key)
        self.release.set()  # an encode began while slow.mp4 was still planning
        if item.key == "b.mp4#1":
            raise ValueError("encoder gave up")
        time.sleep(0.01)
        return [item]


def _sources(*names: str) -> list[Item]:
    return [Item(n, ClipRecord(Source(path=n))) for n in names]


def test_clips_encode_while_a_long_source_still_plans_and_come_back_numbered():
    release = threading.Event()
    encode = Encode(release)
    heard: list[tuple[str, list[str]]] = []
    with ThreadPoolExecutor(2) as pool:
        flow = LocalFlow(Plan(release), encode, _sources("slow.mp4", "b.mp4", "broken.mp4"), pool)
        got = list(flow.clips(7, lambda s, items: heard.append((s.key, [i.key for i in items]))))
    # slow.mp4 blocked its thread until an encode of another source began: they overlapped
    assert release.is_set() and encode.started[0].startswith("b.mp4")
    assert sorted(k for k, _ in heard) == ["b.mp4", "broken.mp4", "slow.mp4"]
    assert dict(heard)["broken.mp4"] == ["broken.mp4"]  # the failed source, for the ledger
    assert dict(heard)["b.mp4"] == ["b.mp4#0", "b.mp4#1", "b.mp4#short"]
    # each source's clips together and in time order, sources as their plans ended
    keys = [i.key for i in got]
    assert sorted(keys) == ["b.mp4#0", "b.mp4#1", "slow.mp4#0", "slow.mp4#1"]
    assert keys.index("b.mp4#1") == keys.index("b.mp4#0") + 1
    assert keys.index("slow.mp4#1") == keys.index("slow.mp4#0") + 1
    assert [i.record.work["write_order"] for i in got] == [7, 8, 9, 10]
    assert flow.next_place == 11
    failed = [i for i in got if not i.ok]
    assert [i.key for i in failed] == ["b.mp4#1"]
    assert failed[0].record.outcome.error["reason"] == Reason.INTERNAL_ERROR.value


def test_a_consumer_that_stops_leaves_the_queued_work_to_be_cancelled():
    """A write that fails stops the run: the runner cancels what is queued (its pool's
    ``shutdown(cancel_futures=True)``), and a plan that ends later queues no encodes."""
    release = threading.Event()
    release.set()
    encode = Encode(release)
    names = [f"s{n}.mp4" for n in range(6)]
    pool = ThreadPoolExecutor(1)
    flow = LocalFlow(Plan(release), encode, _sources(*names), pool)
    clips = flow.clips(0, lambda s, items: None)
    assert next(clips).key == "s0.mp4#0"
    with pytest.raises(OSError, match="disk full"):
        clips.throw(OSError("disk full"))
    pool.shutdown(cancel_futures=True)
    # one thread: the six plans ran first, then s0.mp4#0; the stop came before the rest
    assert 1 <= len(encode.started) < 2 * len(names)
    late = Item("late.mp4", ClipRecord(Source(path="late.mp4")))
    flow.pool = ThreadPoolExecutor(1)
    flow._plan_one(late)
    ended = [flow._ended.get() for _ in range(flow._ended.qsize())]
    assert ended[-1][0] is late and ended[-1][2] == []  # planned, but no encode queued
    flow.pool.shutdown()
