"""Several writer processes submitting at once: every decision lands, none is duplicated."""

from __future__ import annotations

import threading
from collections import defaultdict

from emodata.review.load import concurrent_writers, uid_for
from emodata.review.store import ReviewStore


def test_concurrent_processes_lose_nothing(tmp_path):
    path = tmp_path / "review" / "decisions.sqlite"
    keys = [f"k{i}" for i in range(5)]  # few keys: writers collide on the same samples
    result = concurrent_writers(path, processes=4, per_process=60, keys=keys)
    assert result.rows == 240
    rows = ReviewStore(path).all()
    assert sorted(d.uid for d in rows) == sorted(uid_for(w, n) for w in range(4) for n in range(60))
    assert len({d.id for d in rows}) == 240
    # each writer's own rows are in the order it wrote them
    by_writer = defaultdict(list)
    for d in rows:
        by_writer[d.reviewer].append(int(d.uid.split("-")[1]))
    assert all(seq == sorted(seq) for seq in by_writer.values())
    # collisions happened and were recorded as conflicts, not overwrites
    assert any(d.conflicts for d in rows)


def test_threads_sharing_one_store_object(tmp_path):
    store = ReviewStore(tmp_path / "s.sqlite")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for n in range(40):
                store.submit(f"k{n % 3}", f"r{t}", "accept", sample_version="v", uid=f"{t}-{n}")
        except BaseException as e:  # surfaced below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 240
