from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emodata.discover import discover, scan_inputs, split_meta
from emodata.errors import ConfigError

EXTS = [".mp4", ".mkv"]


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a" / "deep é").mkdir(parents=True)
    for p in ["x.mp4", "a/y.MKV", "a/deep é/z z.mp4", "a/notes.txt", ".hidden/h.mp4"]:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"x")
    return tmp_path


def test_folder_is_recursive_filtered_and_sorted(tree):
    paths = [r.path for r in discover(str(tree), EXTS)]
    assert paths == sorted(paths)
    assert [p[len(str(tree)) + 1 :] for p in paths] == ["a/deep é/z z.mp4", "a/y.MKV", "x.mp4"]


def test_folder_accounts_for_every_file_it_sees(tree):
    (tree / "a" / "voice memo.M4A").write_bytes(b"x")
    (tree / "cover.jpg").write_bytes(b"x")
    (tree / "README").write_bytes(b"x")
    found = scan_inputs(str(tree), EXTS, [".m4a", ".wav"])
    names = [r.path.rsplit("/", 1)[1] for r in found.refs]
    assert "voice memo.M4A" in names  # audio only: an input, ledgered by ingest
    assert dict(found.skipped) == {".txt": 1, ".jpg": 1, "(none)": 1, "(hidden)": 1}
    assert len(found.refs) + sum(found.skipped.values()) == 8


def test_glob(tree):
    paths = [r.path for r in discover(str(tree / "**" / "*.mp4"), EXTS)]
    assert {p.rsplit("/", 1)[1] for p in paths} == {"x.mp4", "z z.mp4"}


def test_missing_input_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        discover(str(tmp_path / "nope"), EXTS)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_manifest_keeps_order_and_metadata(tree, fmt):
    rows = [
        {"path": "x.mp4", "source_dataset": "MER", "license": "CC-BY", "label": "happy", "spk": 3},
        {
            "path": str(tree / "a" / "y.MKV"),
            "source_dataset": "MER",
            "license": "CC-BY",
            "label": "sad",
            "spk": 4,
        },
    ]
    f = tree / f"m.{fmt}"
    if fmt == "csv":
        f.write_text(
            "path,source_dataset,license,label,spk\n"
            + "\n".join(
                ",".join(str(r[k]) for k in ("path", "source_dataset", "license", "label", "spk"))
                for r in rows
            )
            + "\n"
        )
    elif fmt == "jsonl":
        f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(rows), f)
    refs = discover(str(f), EXTS)
    assert [r.path for r in refs] == [str(tree / "x.mp4"), str(tree / "a" / "y.MKV")]
    meta = split_meta(refs[0].meta)
    assert meta["source_dataset"] == "MER" and meta["label"] == "happy"
    assert json.loads(meta["source_meta"]) == {"spk": 3}


def test_manifest_without_path_column(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("file,label\na.mp4,x\n")
    with pytest.raises(ConfigError, match="no 'path' column"):
        discover(str(f), EXTS)
