from __future__ import annotations

import fsspec

from emodata import progress
from emodata.records import Outcome


def test_progress_counts_and_is_readable_while_running(tmp_path):
    p = progress.Progress(fsspec.filesystem("file"), str(tmp_path), "r1", every_s=0)
    p.set(phase="process", inputs=3, planned=4, skipped=1)
    p.item(Outcome(timings={"segment": 0.5, "transcribe": 0.25}), ok=True)
    p.item(Outcome(timings={"segment": 1.5}), ok=True)
    p.item(Outcome(error={"stage": "segment", "reason": "ffmpeg_error"}), ok=False)
    snap = progress.read(str(tmp_path))
    assert snap["state"] == "running" and snap["phase"] == "process"
    assert snap["clips"] == {
        "planned": 4,
        "already_done": 1,
        "written": 2,
        "failed": 1,
        "queued": 1,
    }
    assert snap["stage_seconds_per_clip"] == {"segment": 1.0, "transcribe": 0.25}
    assert snap["failures"] == {"segment/ffmpeg_error": 1}
    assert not list(tmp_path.glob(".*"))
    p.flush(force=True, state="finished")
    assert progress.read(str(tmp_path))["state"] == "finished"
