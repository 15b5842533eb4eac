from __future__ import annotations

import pytest

from emodata.config import FacesConfig, TranscribeConfig
from emodata.errors import ConfigError
from emodata.runner import fit_actors
from emodata.stages.faces import FacesStage
from emodata.stages.transcribe import TranscribeStage


def test_actor_requests_are_scaled_to_leave_room_for_tasks():
    stages = [TranscribeStage(TranscribeConfig()), FacesStage(FacesConfig())]
    fit_actors(stages, cluster_cpus=2, task_cpus=1)
    assert [s.resources.cpus for s in stages] == [0.5, 0.5]
    big = [TranscribeStage(TranscribeConfig()), FacesStage(FacesConfig())]
    fit_actors(big, cluster_cpus=16, task_cpus=1)
    assert [s.resources.cpus for s in big] == [1.0, 1.0]
    with pytest.raises(ConfigError, match="no CPU"):
        fit_actors([FacesStage(FacesConfig())], cluster_cpus=1, task_cpus=1)
