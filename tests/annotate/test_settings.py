"""Annotate settings: errors name the field; the embedded defaults are usable."""

from __future__ import annotations

import pytest

from emodata.config import load_config
from emodata.errors import ConfigError


def test_defaults_use_a_local_model_through_every_agent():
    cfg = load_config().annotate
    assert set(cfg.agents) == {"perceiver", "listener", "reasoner", "critic", "qa"}
    assert cfg.backends["default"].model == "qwen2.5-coder-0.5b-instruct"
    assert cfg.backends["default"].serve is None  # a local vLLM server unless an endpoint is set
    assert cfg.taxonomy["happy"][0] > 0 > cfg.taxonomy["sad"][1]


@pytest.mark.parametrize(
    "override,field",
    [
        ({"annotate.agents.narrator.enabled": True}, "unknown agent"),
        ({"annotate.agents.critic.backend": "gpt"}, "agents.critic.backend"),
        ({"annotate.agents.reasoner.enabled": False}, "agents.reasoner"),
        ({"annotate.taxonomy.happy": [0.5, -0.5]}, "taxonomy.happy"),
        ({"annotate.backends.default.kind": "llamafile"}, "annotate.backends.default.kind"),
        ({"annotate.max_revisions": -1}, "annotate.max_revisions"),
    ],
)
def test_bad_settings_name_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(overrides=override)


def test_a_second_backend_can_serve_one_agent():
    cfg = load_config(
        overrides={
            "annotate.backends.api.kind": "openai",
            "annotate.backends.api.base_url": "http://127.0.0.1:9/v1",
            "annotate.agents.critic.backend": "api",
        }
    ).annotate
    assert cfg.backend_for("critic").base_url == "http://127.0.0.1:9/v1"
    assert cfg.backend_for("reasoner").kind == "openai"
