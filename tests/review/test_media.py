"""A sample's members come out of the shard by byte range, matching the tar exactly."""

from __future__ import annotations

import tarfile

import pytest

from emodata import stats
from emodata.review import media
from emodata.review.media import load_sample, members_of, read_members, sample_version


def _rows(run_dir):
    return stats.query(str(run_dir), "select * from idx order by shard, key")


def test_members_match_the_tar(run_dir):
    row = _rows(run_dir)[-1]
    got = read_members(str(run_dir), row)
    with tarfile.open(run_dir / "shards" / row["shard"]) as tar:
        want = {m.name: tar.extractfile(m).read() for m in tar if m.name.startswith(row["key"])}
    assert got == want


def test_only_the_sample_bytes_are_read(run_dir, monkeypatch):
    row = _rows(run_dir)[20]
    calls = []
    real = media.read_range

    def spy(fs, path, offset, size):
        calls.append(size)
        return real(fs, path, offset, size)

    monkeypatch.setattr(media, "read_range", spy)
    sample = load_sample(str(run_dir), row)
    shard_size = (run_dir / "shards" / row["shard"]).stat().st_size
    assert sum(calls) == sum(size for _, size in members_of(row).values())
    assert sum(calls) < shard_size / 5
    assert sample.mp4[4:8] == b"ftyp"


def test_sample_parts_and_version(run_dir):
    rows = _rows(run_dir)
    with_faces = next(r for r in rows if r["face_tracks"])
    without = next(r for r in rows if not r["face_tracks"])
    s = load_sample(str(run_dir), with_faces)
    assert list(s.faces) == ["face0_0.jpg"] and s.faces["face0_0.jpg"][:2] == b"\xff\xd8"
    assert s.wav[:4] == b"RIFF"
    assert s.doc["key"] == with_faces["key"]
    raw = read_members(str(run_dir), with_faces, [f"{with_faces['key']}.json"])
    assert s.version == sample_version(next(iter(raw.values())))
    assert load_sample(str(run_dir), without).faces == {}


def test_a_shard_shorter_than_the_index_says_is_an_error(run_dir):
    row = _rows(run_dir)[-1]
    path = run_dir / "shards" / row["shard"]
    path.write_bytes(path.read_bytes()[:1024])
    with pytest.raises(OSError, match=r"read .* of .* bytes"):
        load_sample(str(run_dir), row)
