"""Datasets of items as the runner builds them for Ray Data."""

from __future__ import annotations

import pytest
import ray

from emodata import ray_adapter
from emodata.records import items_to_table
from tests.test_writer import _item


@pytest.mark.slow
def test_a_dataset_of_items_starts_no_ray_task(monkeypatch):
    """The blocks go to the object store and their metadata is read on the driver. Built with
    ``ray.data.from_arrow`` it started one task per block, each with its own worker lease
    request: 500 at once for a window of 1,000 sources, and the driver kept the memory."""

    def no_tasks(*args, **kwargs):
        raise AssertionError("building the dataset started a Ray task")

    ray_adapter.init_ray(None, 1, False)
    try:
        monkeypatch.setattr(ray.data.read_api, "cached_remote_fn", no_tasks)
        items = [_item(i, 100) for i in range(9)]
        ds = ray_adapter.from_items(items, parallelism=8, max_rows_per_block=2)
        assert ds.num_blocks() == 5 and ds.count() == 9
        monkeypatch.undo()
        back = list(ray_adapter.iter_items(ds))
        assert [i.key for i in back] == [i.key for i in items]
        assert back[3].record.to_dict() == items[3].record.to_dict()
        # rows read back a table at a time (a window's spill): the same blocks, cut across them
        tables = [items_to_table(items[a:b]) for a, b in ((0, 3), (3, 4), (4, 9))]
        ds = ray_adapter.from_tables(iter(tables), 9, parallelism=8, max_rows_per_block=2)
        assert ds.num_blocks() == 5
        assert [i.key for i in ray_adapter.iter_items(ds)] == [i.key for i in items]
    finally:
        ray_adapter.shutdown()
