"""One window of inputs on the driver: ingest, dedup and the choice of what is left to do.

The driver keeps a window's sources as Arrow rows (``ITEM_SCHEMA``: a key and the record as
JSON), not as Python items: an ingested source as an :class:`Item` costs the driver about 2 KiB
of small objects, as a row about 0.5 KiB. Items are made a batch at a time where code reads or
changes a record (dedup, the choice of what is done, the ingest cache), and dropped again.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc

from emodata import heap
from emodata.dedup import ContentIds
from emodata.discover import SourceRef
from emodata.errors import Reason
from emodata.fsutil import is_url, storable_text
from emodata.ingest_cache import IngestCache
from emodata.records import ITEM_SCHEMA, ClipRecord, Item, Source, items_to_table, table_to_items
from emodata.remote import object_version, timed_out, url_to_fs
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
    refs: list[SourceRef],
    timeout_s: float,
    cache: IngestCache,
    probe: Callable[[pa.Table], Iterator[Item]],
    tick: Callable[..., None],
) -> tuple[pa.Table, pa.Array]:
    """Ingest a window of inputs: cached results where an input's fingerprint is unchanged,
    ``probe`` (hash and probe, on Ray or the driver's threads) for the rest. Returns the rows
    and the indices that put them in input order (results arrive as the workers finish)."""
    cache.load([r.path for r in refs])
    # remote stat calls wait on the network: side by side, each bounded by the timeout
    with ThreadPoolExecutor(16 if any(is_url(r.path) for r in refs) else 1) as pool:
        stamps = list(pool.map(lambda r: fingerprint(*url_to_fs(r.path, timeout_s)), refs))
    place: dict[str, tuple[str, int]] = {}  # path -> (fingerprint, place in the window)
    tables: list[pa.Table] = []  # cached results, then probed ones
    places = array("q")
    todo: list[pa.Table] = []  # inputs to probe, as rows: no item of the window is kept whole
    batch: list[Item] = []
    hits: list[Item] = []
    hits_failed = 0
    for n, (ref, fp) in enumerate(zip(refs, stamps, strict=True)):
        place[ref.path] = (fp, n)
        hit = cache.get(ref.path, fp)
        if hit is None:
            batch.append(Item(ref.path, ClipRecord(Source(path=ref.path, meta=ref.meta))))
        else:
            hit.record.source.meta = ref.meta
            hits_failed += not hit.ok
            hits.append(hit)
            places.append(n)
        for full in (batch, hits):
            if len(full) >= BATCH:
                (todo if full is batch else tables).append(items_to_table(full))
                full.clear()
    if batch:
        todo.append(items_to_table(batch))
    if hits:
        tables.append(items_to_table(hits))
    del stamps, batch, hits
    cache.rows = {}  # the window's cached rows are in ``tables`` now
    cached = len(places)
    count = sum(t.num_rows for t in todo)
    log.info("ingest: %d cached, %d to probe", cached, count)
    tick(cached, failed=hits_failed)
    if count:
        results = probe(pa.concat_tables(todo))
        del todo  # on Ray, the dataset holds the inputs now
        for n, done in enumerate(batched(results), 1):
            if n % TRIM_EVERY == 0:
                heap.trim()
            table = items_to_table(done)
            cache.put(done, [place[i.key][0] for i in done], table["record"])
            tables.append(table)
            places.extend(place[i.key][1] for i in done)
            for item in done:
                tick(failed=0 if item.ok else 1)
        cache.save()
    table = pa.concat_tables(tables) if tables else ITEM_SCHEMA.empty_table()
    return table, pc.sort_indices(pa.array(places, pa.int64()))


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
    table: pa.Table,
    order: pa.Array,
    kept: ContentIds,
    prior: PriorState,
    ledger: LedgerBook,
    earlier: dict[str, list[list[Any]]],
) -> tuple[pa.Table, int]:
    """Dedup and select over a window's ingested rows in input order, ``CHOOSE_BATCH`` at a
    time: the sources with clips to write (rows), and how many of their clips are written
    already."""
    out: list[pa.Table] = []
    skipped = 0
    for start in range(0, len(order), CHOOSE_BATCH):
        items = table_to_items(table.take(order.slice(start, CHOOSE_BATCH)))
        todo, done = select(dedup(items, kept), prior, ledger, earlier)
        skipped += done
        if todo:
            out.append(items_to_table(todo))
        del items, todo
        heap.trim()
    return (pa.concat_tables(out) if out else ITEM_SCHEMA.empty_table()), skipped
