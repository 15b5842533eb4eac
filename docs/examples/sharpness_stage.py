"""A stage in one file: how sharp each clip's sampled frames are (variance of the Laplacian).

Registered by importing this module: ``--set plugins=[sharpness_stage]`` with this folder on
PYTHONPATH (docs/extending.md walks through it). It fills the index column ``frame_sharpness``,
and its suite (``sharpness.suite.json``, next to this file) sends clips blurrier than
``sharpness.min_variance`` to the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from emodata.records import Item
from emodata.stages.base import Resources, Stage
from emodata.stages.registry import Requirement, StageSpec, register


class SharpnessConfig(BaseModel):
    """The ``sharpness:`` section of a run config."""

    model_config = ConfigDict(extra="forbid")
    min_variance: float = Field(0.0, ge=0, description="Blurrier clips go to the ledger.")
    cpus_per_task: float = Field(0.5, gt=0)


@dataclass
class SharpnessStage(Stage):
    config: SharpnessConfig
    name = "sharpness"

    def __post_init__(self) -> None:
        self.resources = Resources(cpus=self.config.cpus_per_task)

    def process_item(self, item: Item) -> list[Item]:
        import cv2
        import numpy as np

        frames = [item.blobs[k] for k in sorted(item.blobs) if k.startswith("frame")]
        scores = []
        for jpeg in frames:
            gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
            scores.append(float(cv2.Laplacian(gray, cv2.CV_64F).var()))
        item.record.extra["frame_sharpness"] = round(float(np.mean(scores)), 3) if scores else None
        item.mark(self.name)
        return [item]


register(
    StageSpec(
        name="sharpness",
        build=lambda section, cfg, ctx: SharpnessStage(section),
        config=SharpnessConfig,
        requires=(Requirement("cv2", "faces"),),
        index_columns=(("frame_sharpness", "float64"),),
        suite=Path(__file__).with_name("sharpness.suite.json"),
        rank=15,  # after transcribe, before faces
    )
)
