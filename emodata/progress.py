"""DIR/progress.json: what a run is doing, rewritten every few seconds while it works.

``emodata status DIR`` reads it, so a data engineer can watch a run (or a Ray job) from any
machine that sees DIR: the phase, clips planned / written / failed, what is still queued, the
throughput, per-stage seconds per clip and failures by reason.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import fsspec

from emodata import layout

PROGRESS = "progress.json"
_STAGE_TIMERS = {"segment": "segment_seconds", "transcribe": "asr_seconds"}


class Progress:
    def __init__(
        self, fs: fsspec.AbstractFileSystem, root: str, run_id: str, every_s: float = 5.0
    ) -> None:
        self.fs, self.path, self.run_id, self.every_s = fs, f"{root}/{PROGRESS}", run_id, every_s
        self.t0 = time.monotonic()
        self.started = datetime.now(UTC).isoformat()
        self.phase = "starting"
        self.inputs = 0
        self.planned = 0
        self.skipped = 0
        self.written = 0
        self.failed: Counter[str] = Counter()
        self.stage_seconds: Counter[str] = Counter()
        self.stage_counts: Counter[str] = Counter()
        self._last = 0.0

    def set(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self, k, v)
        self.flush(force=True)

    def item(self, record: dict[str, Any], ok: bool) -> None:
        if ok:
            self.written += 1
        else:
            err = record.get("error") or {}
            self.failed[f"{err.get('stage', '?')}/{err.get('reason', '?')}"] += 1
        for stage, key in _STAGE_TIMERS.items():
            if record.get(key) is not None:
                self.stage_seconds[stage] += float(record[key])
                self.stage_counts[stage] += 1
        self.flush()

    def snapshot(self, state: str = "running") -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        done = self.written + sum(self.failed.values())
        return {
            "run_id": self.run_id,
            "state": state,
            "phase": self.phase,
            "started_at": self.started,
            "updated_at": datetime.now(UTC).isoformat(),
            "elapsed_s": round(elapsed, 1),
            "inputs": self.inputs,
            "clips": {
                "planned": self.planned,
                "already_done": self.skipped,
                "written": self.written,
                "failed": sum(self.failed.values()),
                "queued": max(0, self.planned - done),
            },
            "clips_per_s": round(self.written / elapsed, 3) if elapsed > 0 else 0.0,
            "stage_seconds_per_clip": {
                s: round(self.stage_seconds[s] / n, 3) for s, n in self.stage_counts.items() if n
            },
            "failures": dict(self.failed.most_common()),
        }

    def flush(self, force: bool = False, state: str = "running") -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        head, name = self.path.rsplit("/", 1)
        tmp = f"{head}/{layout.tmp_name(name)}"
        with self.fs.open(tmp, "w") as f:
            f.write(json.dumps(self.snapshot(state), indent=2) + "\n")
        self.fs.mv(tmp, self.path)


def read(out_dir: str) -> dict[str, Any] | None:
    fs, root = fsspec.core.url_to_fs(out_dir)
    path = f"{root.rstrip('/')}/{PROGRESS}"
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as f:
        return json.load(f)
