"""One window of inputs on the driver: ingest, dedup and the choice of what is left to do.

The driver keeps a window's sources as Arrow rows (``ITEM_SCHEMA``: a key and the record as
JSON) in temporary files (``emodata.spill``), not as Python items in its memory: an ingested
source as an :class:`Item` costs the driver about 2 KiB of small objects, as a row in memory
about 0.5 KiB, on disk 8 bytes (its place). Items are made a batch at a time where code reads or
changes a record (dedup, the choice of what is done, the ingest cache), and dropped again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec

from emodata import heap
from emodata.dedup import ContentIds
from emodata.discover import SourceRef
from emodata.errors import Reason
from emodata.fsutil import is_url, storable_text
from emodata.ingest_cache import IngestCache
from emodata.records import ClipRecord, Item, Source, items_to_table, table_to_items
from emodata.remote import object_version, timed_out, url_to_fs
from emodata.spill import Spill, Spills
from emodata.state import PriorState
from emodata.writer import LedgerBook

log = logging.getLogger(__name__)

BATCH = 64  # items made at once from rows, or rows from items
CHOOSE_BATCH = 1024  # sources per dedup lookup: each is one scan of the run's kept ids
TRIM_EVERY = 4  # batches between handing glibc's free pages back (``heap.trim``)


def fingerprint(fs: fsspec.AbstractFileSystem, path: str) -> str:
    try:
        info = fs.info(path)
    except (FileNotFoundError, OSError) as e:
        return "timeout" if timed_out(e) else "missing"  # ingest then ledgers why
    return object_version(info) or f"{info.get('size')}:"


def batched(items: Iterable[Item], size: int = BATCH) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(
    batches: Iterable[list[SourceRef]],
    timeout_s: float,
    cache: IngestCache,
    probe: Callable[[Spill], Iterator[Item]],
    tick: Callable[..., None],
    spills: Spills,
) -> Spill:
    """Ingest a window of inputs, read a batch at a time: cached results where an input's
    fingerprint is unchanged, ``probe`` (hash and probe, on Ray or the driver's threads) for
    the rest. Returns the rows on disk, each with its place in the window (results arrive as
    the workers finish). An input to probe carries its fingerprint and place in its record's
    ``work``, so the driver keeps nothing per input while the workers probe."""
    rows, todo = spills.new("ingested"), spills.new("to-probe")
    cached = hits_failed = 0
    n = 0  # the next input's place in the window
    for refs in batches:
        cache.load([r.path for r in refs])
        # remote stat calls wait on the network: side by side, each bounded by the timeout
        with ThreadPoolExecutor(16 if any(is_url(r.path) for r in refs) else 1) as pool:
            stamps = list(pool.map(lambda r: fingerprint(*url_to_fs(r.path, timeout_s)), refs))
        hits: list[Item] = []
        places: list[int] = []
        misses: list[Item] = []
        for ref, fp in zip(refs, stamps, strict=True):
            hit = cache.get(ref.path, fp)
            if hit is None:
                record = ClipRecord(Source(path=ref.path, meta=ref.meta), work={"fp": fp, "at": n})
                misses.append(Item(ref.path, record))
            else:
                hit.record.source.meta = ref.meta
                hits_failed += not hit.ok
                hits.append(hit)
                places.append(n)
            n += 1
        if hits:
            rows.add(items_to_table(hits), places)
        if misses:
            todo.add(items_to_table(misses))
        cached += len(hits)
        heap.trim()  # the batch's records and Arrow copies
    cache.rows = {}
    log.info("ingest: %d cached, %d to probe", cached, todo.num_rows)
    tick(cached, failed=hits_failed)
    if todo.num_rows:
        for k, done in enumerate(batched(probe(todo.seal())), 1):
            if k % TRIM_EVERY == 0:
                heap.trim()
            fps = [i.record.work.pop("fp") for i in done]
            places = [i.record.work.pop("at") for i in done]
            table = items_to_table(done)
            cache.put(done, fps, table["record"])
            rows.add(table, places)
            for item in done:
                tick(failed=0 if item.ok else 1)
        cache.save()
    todo.close()
    return rows.seal()


def items(rows: Spill) -> list[Item]:
    """Every row of ``rows`` as an item (a small run's window, on the driver's threads)."""
    return [item for chunk in rows.chunks() for item in table_to_items(chunk)]


def dedup(items: list[Item], kept: ContentIds) -> list[Item]:
    """Keep the first path per content id (``kept``: over every window so far); the others are
    ledgered as duplicates."""
    first = kept.first_paths([i.record.source.id for i in items if i.ok])
    new: dict[str, str] = {}
    for item in items:
        if not item.ok:
            continue
        sid = item.record.source.id
        if sid in first or sid in new:
            item.fail("ingest", Reason.DUPLICATE, f"same content as {first.get(sid) or new[sid]}")
        else:
            new[sid] = storable_text(item.key)
    kept.add(new)
    return items


def select(
    sources: list[Item], prior: PriorState, ledger: LedgerBook, earlier: dict[str, list[list[Any]]]
) -> tuple[list[Item], int]:
    """Sources with clips still to write; ingest failures go to the ledger. A source takes
    along what earlier runs ledgered for it (``earlier``; the write tasks number their ledger
    rows' attempts and keep a decision on record once)."""
    todo: list[Item] = []
    skipped = 0
    done = prior.done.of([i.record.source.id for i in sources if i.ok])
    for item in sources:
        if not item.ok:
            ledger.add(item)
            continue
        keys, planned = done.get(item.record.source.id, ([], None))
        skipped += len(keys)
        if planned is not None and len(keys) >= planned:
            continue  # every clip of the source is written
        if keys:
            item.record.work["done_keys"] = keys
        if storable_text(item.key) in earlier:
            item.record.work["ledger_prior"] = earlier[storable_text(item.key)]
        todo.append(item)
    return todo, skipped


def choose(
    rows: Spill,
    kept: ContentIds,
    prior: PriorState,
    ledger: LedgerBook,
    earlier: dict[str, list[list[Any]]],
    out: Spill,
) -> int:
    """Dedup and select over a window's ingested rows in input order, ``CHOOSE_BATCH`` at a
    time: the sources with clips to write go to ``out``; returns how many of their clips are
    written already. ``rows`` is removed."""
    skipped = 0
    for chunk in rows.chunks(CHOOSE_BATCH):
        todo, done = select(dedup(table_to_items(chunk), kept), prior, ledger, earlier)
        skipped += done
        if todo:
            out.add(items_to_table(todo))
        del chunk, todo
        heap.trim()
    rows.close()
    out.seal()
    return skipped
