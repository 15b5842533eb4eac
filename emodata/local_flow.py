"""Scene planning and encoding on the driver's threads, overlapped, for a small run without
model stages (no Ray).

Planning every source before encoding any clip leaves cores idle while the last long source's
scene pass runs. Here a source's clips are queued for encoding the moment its plan ends; plans
were queued first, so they still run first and a long source's clips still spread over every
thread. The clips come back in a fixed order (sources as their plans ended, a source's clips
in time order), numbered as they come, so that consecutive clips make a write task's batch.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from emodata.records import Item
from emodata.stages.base import Stage


class LocalFlow:
    """Plans ``sources`` with ``plan`` and encodes their clips with ``segment`` on ``pool``:
    the plans are queued at once; :meth:`clips` hands the encoded clips over."""

    def __init__(
        self, plan: Stage, segment: Stage, sources: list[Item], pool: ThreadPoolExecutor
    ) -> None:
        self.plan, self.segment, self.pool = plan, segment, pool
        self.sources = len(sources)
        self._ended: queue.SimpleQueue[tuple[Item, list[Item], list[Future]] | BaseException]
        self._ended = queue.SimpleQueue()
        self._stopped = False
        for source in sources:
            pool.submit(self._plan_one, source)

    def _plan_one(self, source: Item) -> None:
        try:
            items = self.plan.process([source])
            encodes = (
                []
                if self._stopped
                else [self.pool.submit(self.segment.process, [i]) for i in items if i.ok]
            )
            self._ended.put((source, items, encodes))
        except BaseException as e:  # the consumer raises it; nothing else waits on this task
            self._ended.put(e)

    def clips(self, first: int, planned: Callable[[Item, list[Item]], None]) -> Iterator[Item]:
        """The encoded clips (failed ones too), each given its place (``write_order``) from
        ``first`` on; ``planned(source, items)`` hears each source's plan as it ends: its clips
        to encode and the spans it ledgers. :attr:`next_place` is the next free place."""
        self.next_place = first
        try:
            for _ in range(self.sources):
                got = self._ended.get()
                if isinstance(got, BaseException):
                    raise got
                source, items, encodes = got
                planned(source, items)
                for future in encodes:
                    for item in future.result():
                        item.record.work["write_order"] = self.next_place
                        self.next_place += 1
                        yield item
        finally:
            self._stopped = True  # a failed write stops the run: no more encodes are queued
