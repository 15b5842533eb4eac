"""Balanced sampling: every class drawn equally often, small classes repeating, reproducible
by seed, readable by a torch DataLoader, within a split and over exported labels."""

from __future__ import annotations

from collections import Counter

import pytest

from emodata import stats
from emodata.exports.plan import ReleaseOptions
from emodata.loader import dataloader, dataset
from emodata.review.export import export


def _labels(run) -> Counter:
    rows = stats.query(str(run), "select emotion_label from idx where emotion_label is not null")
    return Counter(r["emotion_label"] for r in rows)


def test_each_label_equally_often_and_the_largest_once(synth_run):
    counts = _labels(synth_run)
    assert len(set(counts.values())) > 1  # the run is unbalanced
    ds = dataset(str(synth_run), balance="label", seed=3)
    assert len(ds) == len(counts) * max(counts.values())
    drawn = [ds[i] for i in range(len(ds))]
    per_class = Counter(s["meta"]["emotion_label"] for s in drawn)
    assert set(per_class.values()) == {max(counts.values())}
    largest = max(counts, key=counts.get)
    keys = [s["key"] for s in drawn if s["meta"]["emotion_label"] == largest]
    assert len(set(keys)) == len(keys) == counts[largest]  # without repeats
    smallest = min(counts, key=counts.get)
    small = Counter(s["key"] for s in drawn if s["meta"]["emotion_label"] == smallest)
    assert len(small) == counts[smallest] and max(small.values()) > 1  # every one, repeated
    first_round = {ds.draw(i)[0] for i in range(len(counts))}
    assert first_round == set(counts)  # each round visits every class once


def test_seeded_and_reproducible(synth_run):
    a = [dataset(str(synth_run), balance="label", seed=1).draw(i)[1]["key"] for i in range(20)]
    b = [dataset(str(synth_run), balance="label", seed=1).draw(i)[1]["key"] for i in range(20)]
    c = [dataset(str(synth_run), balance="label", seed=2).draw(i)[1]["key"] for i in range(20)]
    assert a == b and a != c


def test_by_source_dataset_with_a_query_and_a_dataloader(synth_run):
    ds = dataset(str(synth_run), "duration_s > 0", balance="source_dataset")
    assert ds.classes == ["CREMA-D", "MELD", "vlogs"]
    batches = list(dataloader(str(synth_run), "duration_s > 0", balance="source_dataset",
                              batch_size=6))  # fmt: skip
    seen = Counter(m["source_dataset"] for b in batches for m in b["meta"])
    assert len(set(seen.values())) == 1 and sum(seen.values()) == len(ds)
    assert all(len(b["mp4"]) == len(b["key"]) for b in batches)


def test_exported_labels_within_a_split(people_run, tmp_path):
    out = tmp_path / "rel"
    opts = ReleaseOptions.parse(split="train=0.8,test=0.2", labels="va_quadrants")
    export(str(people_run), str(out), options=opts)
    ds = dataset(str(out), balance="label", split="train")
    rows = stats.query(str(out), "select export_label from idx where split = 'train'")
    assert ds.classes == sorted({r["export_label"] for r in rows if r["export_label"]})
    sample = ds[0]
    assert sample["meta"]["split"] == "train" and sample["meta"]["export_label"] in ds.classes
    assert len(sample["audio"]) > 0 and sample["mp4"][4:8] == b"ftyp"
    # a release's face crops are nested in images.tar and listed one by one in the index
    assert any(len(ds[i]["faces"]) == 1 for i in range(len(ds)))


def test_unknown_column(synth_run):
    with pytest.raises(ValueError, match="balance='mood': not an index column"):
        dataset(str(synth_run), balance="mood")
