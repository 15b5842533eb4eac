"""Agent schemas are shrunk to their token budget, so a model that repeats itself until the last
allowed character still ends its JSON before max_tokens."""

from __future__ import annotations

import pytest

from emodata.annotate import prompts
from emodata.annotate.settings import AnnotateConfig, TreeLimits

CUES = ["clip.duration", "face.t0.age", "face.t0.gender", "words.valence", "voice.arousal"]


@pytest.mark.parametrize("agent", ["perceiver", "listener", "reasoner", "qa"])
def test_the_longest_valid_output_fits_the_default_budget(agent):
    max_tokens = AnnotateConfig().agents[agent].max_tokens
    schema = prompts.output_schema(agent, ["happy", "sad"], CUES, ["t0"], TreeLimits(), max_tokens)
    assert prompts.worst_case_chars(schema) <= max_tokens * prompts.CHARS_PER_TOKEN


@pytest.mark.parametrize(
    ("agent", "max_tokens"), [("reasoner", 480), ("qa", 320), ("reasoner", 640)]
)
def test_the_small_model_budgets_fit_and_use_most_of_the_room(agent, max_tokens):
    schema = prompts.output_schema(agent, ["happy", "sad"], CUES, ["t0"], TreeLimits(), max_tokens)
    budget = max_tokens * prompts.CHARS_PER_TOKEN
    assert 0.9 * budget <= prompts.worst_case_chars(schema) <= budget


def test_a_budget_below_the_minimums_keeps_the_minimums():
    schema = prompts.output_schema("reasoner", ["happy"], CUES, ["t0"], TreeLimits(), 50)
    props = schema["properties"]
    assert props["caption"]["maxLength"] >= props["caption"]["minLength"] > 0
    assert props["rationale"]["maxItems"] >= props["rationale"]["minItems"] >= 1


def test_a_large_budget_leaves_the_configured_limits():
    limits = TreeLimits()
    fitted = prompts.output_schema("reasoner", ["happy"], CUES, ["t0"], limits, 100_000)
    assert fitted == prompts.output_schema("reasoner", ["happy"], CUES, ["t0"], limits)
    assert fitted["properties"]["caption"]["maxLength"] == 150 * limits.chars_per_word


def test_shrinking_keeps_short_fields_and_minimums():
    schema = prompts.output_schema("reasoner", ["happy"], CUES, ["t0"], TreeLimits(), 1024)
    props = schema["properties"]
    caption = props["caption"]
    assert caption["minLength"] <= caption["maxLength"] < 150 * TreeLimits().chars_per_word
    assert props["rationale"]["maxItems"] >= 3
    qa = prompts.output_schema("qa", ["happy"], CUES, ["t0"], TreeLimits(), 200)["properties"]
    assert qa["qa"]["maxItems"] >= qa["qa"]["minItems"] == TreeLimits().qa_pairs[0]
