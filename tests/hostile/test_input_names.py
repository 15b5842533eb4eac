"""Item 6: a file name that is not UTF-8 is processed, not fatal.

Before: one file named with the byte 0xE9 (``caf\\xe9.mp4``) stopped the whole run with
``UnicodeEncodeError ... surrogates not allowed`` when the ingest cache was saved: 0 clips.
"""

from __future__ import annotations

import json
import os
import tarfile

import duckdb
import pytest

from emodata.fsutil import storable_text
from emodata.records import ClipRecord, Item, Source, items_to_table, table_to_items
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips


def test_storable_text_escapes_only_bad_bytes():
    assert storable_text(os.fsdecode(b"/in/caf\xe9.mp4")) == "/in/caf\\xe9.mp4"
    assert storable_text("/in/café.mp4") == "/in/café.mp4"
    assert storable_text("x\ud800") == "x\\ud800"  # a surrogate no file system makes


def test_items_keep_a_non_utf8_path_through_arrow():
    path = os.fsdecode(b"/in/caf\xe9.mp4")
    (back,) = table_to_items(items_to_table([Item(path, ClipRecord(Source(path=path)))]))
    assert back.key == path and back.record.source.path == path
    assert os.fsencode(back.record.source.path) == b"/in/caf\xe9.mp4"


@pytest.mark.slow
def test_a_non_utf8_name_is_processed_and_a_bad_one_ledgered(tmp_path):
    src = make_clips(tmp_path / "in", 2)
    folder = os.fsencode(src)
    os.rename(folder + b"/clip_300.mp4", folder + b"/caf\xe9.mp4")
    open(folder + b"/vide\xff.mp4", "wb").close()  # zero bytes: ledgered under its name
    out = tmp_path / "out"
    args = ["run", "--input", str(src), "--output", str(out), *QUICK]
    # local_max_inputs=0: ingest on Ray Data, whose rows carry the path as the item key
    res = run_cli(*args, "--set", "ingest.local_max_inputs=0")
    assert "3 inputs, 2 clips written" in res.stdout
    idx = str(out / "index" / "*.parquet")
    paths = sorted(r[0] for r in duckdb.sql(f"select source_path from '{idx}'").fetchall())
    assert paths == [f"{src}/caf\\xe9.mp4", f"{src}/clip_337.mp4"]
    (ledger,) = duckdb.sql(
        f"select source_path, reason from '{out / 'failures' / '*.parquet'}'"
    ).fetchall()
    assert ledger == (f"{src}/vide\\xff.mp4", "zero_byte")
    (shard,) = (out / "shards").iterdir()
    with tarfile.open(shard) as tar:
        docs = [json.load(tar.extractfile(m)) for m in tar if m.name.endswith(".json")]
    assert sorted(d["source"]["path"] for d in docs) == paths
    again = run_cli(*args)  # the driver-side ingest path, resuming from the saved cache
    assert "0 clips written, 2 already done, 0 new ledger rows" in again.stdout
