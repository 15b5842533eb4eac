"""The run's figures over its index (``emodata.stats``)."""

from __future__ import annotations

from emodata import stats


def test_the_summary_reads_its_columns_a_fragment_at_a_time(synth_run) -> None:
    out = str(synth_run)
    summary = stats.summary(out)
    with stats.connect(out) as con:  # every column, through DuckDB's scan of the files
        full = stats._one(
            con,
            """select count(*) as clips, count(distinct source_id) as sources,
                      count(distinct shard) as shards, sum(sample_bytes) as bytes,
                      count(critic_verdict) as annotated from idx""",
        )
    assert full["clips"] == 60 and full["shards"] > 1  # several fragments were read
    assert {k: summary["clips"][k] for k in ("clips", "sources", "shards", "bytes")} == {
        k: full[k] for k in ("clips", "sources", "shards", "bytes")
    }
    # the annotation figures still come where a clip was annotated
    assert (summary["quality"] is not None) == bool(full["annotated"])
    with stats.connect(out, ["key", "shard"]) as con:
        cur = con.execute("select * from idx")
        assert [d[0] for d in cur.description] == ["key", "shard"]
        assert len(cur.fetchall()) == 60
