"""Arrow never gets a Python file object to read a run's Parquet files.

Before: state files were read through fsspec file objects and DuckDB scanned the index through an
fsspec filesystem, so Arrow's threads held Python objects. A command that read a few index
fragments and then stopped with an error (``emodata export`` of a run with a cut shard) aborted at
exit now and then with ``terminate called without an active exception`` (exit -6 instead of its
one-line error and exit 1): 2 of 150 such exports on a loaded 2-core machine.
"""

from __future__ import annotations

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from emodata import arrowio, corrupt, state, stats, verify
from emodata.review.synth import SynthSpec, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("arrowio") / "run"
    make_run(str(out), SynthSpec(samples=6, shard_samples=3))
    return out


def test_a_local_file_opens_natively_and_a_remote_one_as_arrow_owned_bytes(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    with arrowio.open_input(fsspec.filesystem("file"), str(path)) as f:
        assert not isinstance(f, pa.PythonFile)
        assert pq.read_table(f)["a"].to_pylist() == [1, 2, 3]
    mem = fsspec.filesystem("memory")
    mem.pipe("/arrowio/t.parquet", path.read_bytes())
    with arrowio.open_input(mem, "/arrowio/t.parquet") as f:
        assert isinstance(f, pa.BufferReader)
        assert pq.read_table(f)["a"].to_pylist() == [1, 2, 3]
    with pytest.raises(FileNotFoundError):
        arrowio.open_input(fsspec.filesystem("file"), str(tmp_path / "gone.parquet"))
    assert isinstance(arrowio.filesystem(fsspec.filesystem("file")), pafs.LocalFileSystem)
    assert isinstance(arrowio.filesystem(mem), pafs.PyFileSystem)


def test_state_reads_hand_arrow_no_python_file(run, monkeypatch):
    sources = []
    for name in ("read_table", "read_metadata", "read_schema"):
        real = getattr(pq, name)

        def spy(source, *a, _real=real, **kw):
            sources.append(source)
            return _real(source, *a, **kw)

        monkeypatch.setattr(pq, name, spy)
    fs = fsspec.filesystem("file")
    assert verify.size_problems(fs, str(run)) == []
    assert state.scan(fs, str(run)).total_done == 6
    assert corrupt.footer_problem(fs, f"{run}/index/shard-000000-synth0.parquet") is None
    assert stats.summary(str(run))["clips"]["clips"] == 6
    assert sources, "no Parquet read was seen"
    assert not [s for s in sources if not isinstance(s, (pa.NativeFile, str))]
    assert not [s for s in sources if isinstance(s, pa.PythonFile)]


def test_a_duckdb_connection_closes_with_its_block(run):
    with stats.connect(str(run)) as con:
        assert con.execute("select count(*) from idx").fetchone()[0] == 6
    with pytest.raises(Exception, match="closed"):
        con.execute("select 1")
