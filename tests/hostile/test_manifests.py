"""Items 5 and 9 (manifests): every row is accounted for, and a broken manifest is one line.

Before: 10,000 rows naming 3 files reported "3 inputs, 0 new ledger rows"; repeated rows and
their differing labels vanished without a record, rows with an empty path were dropped, and a
label that is not UTF-8 was stored as the text ``b'caf\\xe9'`` (a CSV column holding one such
value turned every label of the column into ``b'...'``). An empty or broken CSV/JSONL manifest
gave a pyarrow traceback and left ``DIR/_state/`` behind.
"""

from __future__ import annotations

import json
import logging

import duckdb
import pytest

from emodata.discover import scan_inputs
from emodata.errors import InputError
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips

EXTS = [".mp4"]


def test_repeated_rows_are_kept_apart_with_the_row_they_repeat(tmp_path):
    (tmp_path / "m.csv").write_bytes(
        b"path,label\na.mp4,happy\nb.mp4,sad\na.mp4,happy\na.mp4,angry\n,sad\n"
    )
    found = scan_inputs(str(tmp_path / "m.csv"), EXTS)
    assert [(r.path.rsplit("/", 1)[-1], r.row) for r in found.refs] == [("a.mp4", 1), ("b.mp4", 2)]
    assert found.manifest_rows == 5
    assert [(s.row, s.reason) for s in found.skipped_rows] == [
        (3, "duplicate_manifest_row"),
        (4, "duplicate_manifest_row"),
        (5, "no_path"),
    ]
    assert found.skipped_rows[0].message == (
        "manifest row 3 names the same path as row 1, which is kept"
    )
    assert "label ('angry' here, 'happy' in row 1)" in found.skipped_rows[1].message


def test_text_that_is_not_utf8_is_read_as_latin1(tmp_path, caplog):
    (tmp_path / "m.csv").write_bytes(b"path,label\na.mp4,sad\nb.mp4,caf\xe9\nc\xe9.mp4,x\n")
    (tmp_path / "m.jsonl").write_bytes(
        b'{"path": "a.mp4", "label": "sad"}\n\n{"path": "b.mp4", "label": "caf\xe9"}\n'
        b'{"path": "c\xe9.mp4", "label": "x"}\n'
    )
    for name in ("m.csv", "m.jsonl"):
        with caplog.at_level(logging.WARNING):
            refs = scan_inputs(str(tmp_path / name), EXTS).refs
        assert [r.meta["label"] for r in refs] == ["sad", "café", "x"]
        # the path keeps its bytes, so the file is opened by its real name
        assert refs[2].path.encode("utf-8", "surrogateescape").endswith(b"/c\xe9.mp4")
        assert "row 2, column 'label' is not UTF-8; read as Latin-1: 'café'" in caplog.text


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "is empty: write a header line with a 'path' column"),
        ("blank.jsonl", b"\n\n", 'is empty: write one JSON object per line with a "path" key'),
        ("header.csv", b"path,label\n", "has a header but no rows"),
        (
            "nopath.csv",
            b"file,label\na.mp4,x\n",
            "has no 'path' column (columns: ['file', 'label'])",
        ),
        (
            "cols.csv",
            b"path,label\na.mp4,x\nb.mp4,y,z\n",
            ": line 3 has 3 field(s), the header has 2",
        ),
        ("quote.csv", b'path,label\n"a.mp4,x\n', ": line 2 has 1 field(s), the header has 2"),
        ("cut.jsonl", b'{"path": "a.mp4"}\n{"path": "b.mp4",\n', ": line 2 is not JSON ("),
        ("list.jsonl", b'{"path": "a.mp4"}\n["b.mp4"]\n', ": line 2 is a JSON list, not an object"),
        ("bad.parquet", b"PAR1 not really", "is not a readable Parquet file"),
    ],
)
def test_a_broken_manifest_is_named_with_its_line(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as err:
        scan_inputs(str(tmp_path / name), EXTS)
    assert str(err.value).startswith(f"manifest {tmp_path / name}")
    assert message in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["empty.csv", "cut.jsonl"])
def test_the_cli_says_one_line_and_leaves_no_output(tmp_path, name):
    (tmp_path / name).write_bytes(b"" if name == "empty.csv" else b'{"path": "a.mp4"}\n{"pa\n')
    out = tmp_path / "out"
    res = run_cli("run", "--input", str(tmp_path / name), "--output", str(out), *QUICK, check=False)
    assert res.returncode == 1
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"Error: input: manifest {tmp_path / name}")
    assert "Traceback" not in res.stderr + res.stdout
    assert not out.exists()
    (tmp_path / "kept").mkdir()  # a DIR that was there stays, and stays empty
    run_cli("run", "--input", str(tmp_path / name), "--output", str(tmp_path / "kept"),
            *QUICK, check=False)  # fmt: skip
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.slow
def test_ten_thousand_rows_on_three_files_are_all_accounted(tmp_path):
    src = make_clips(tmp_path / "in", 3)
    names = sorted(p.name for p in src.iterdir())
    lines = [b"path,label"]
    for i in range(10_000):
        label = b"caf\xe9" if i == 1 else (b"happy" if i % 2 else b"sad")
        lines.append(names[i % 3].encode() + b"," + label)
    (src / "m.csv").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    args = ["run", "--input", str(src / "m.csv"), "--output", str(out), *QUICK]
    res = run_cli(*args)
    assert "3 inputs, 3 clips written, 0 already done, 9997 new ledger rows" in res.stdout
    assert "manifest   10000 rows: 3 inputs, 9997 duplicate_manifest_row (ledgered)" in res.stdout
    ledger = str(out / "failures" / "*.parquet")
    rows = duckdb.sql(f"select key, reason, message from '{ledger}'").fetchall()
    assert len(rows) == 9997 and {r[1] for r in rows} == {"duplicate_manifest_row"}
    by_key = {k: m for k, _, m in rows}
    assert by_key["manifest-row-5"] == (
        "manifest row 5 names the same path as row 2, which is kept; it differs in label "
        "('sad' here, 'café' in row 2)"
    )
    labels = duckdb.sql(f"select label from '{out / 'index' / '*.parquet'}' order by 1").fetchall()
    assert [r[0] for r in labels] == ["café", "sad", "sad"]
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["runs"][-1]["counts"]
    assert counts["manifest_rows"] == 10_000
    assert counts["manifest_rows_skipped"] == {"duplicate_manifest_row": 9997}
    again = run_cli(*args)  # the same decisions are on record already
    assert "0 clips written, 3 already done, 0 new ledger rows" in again.stdout
