"""``annotate.texts: rendered``: the model chooses the emotion, the texts come from measurements.

A scripted backend answers the reasoner with an emotion only; what is tested is what the tree
then says, that every claim in it passes the critic's checks, and what the model is asked.
"""

from __future__ import annotations

from typing import Any

from emodata.annotate import evidence
from emodata.annotate.critic import CHECKS, ground
from emodata.annotate.settings import AnnotateConfig
from tests.annotate.records import conflicted, empty_scene, measured, silent_frowning, summary
from tests.annotate.test_tree import Scripted, annotate, data_of

ACCEPT = {"verdict": "accept", "reasons": []}


def emotion(label: str, valence: float, arousal: float, confidence: float = 0.7) -> dict:
    return {
        "label": label,
        "terms": ["plain"],
        "valence": valence,
        "arousal": arousal,
        "confidence": confidence,
    }


def rendered(record: dict[str, Any], emo: dict[str, Any]):
    backend = Scripted({"reasoner": {"emotion": emo}, "critic": ACCEPT})
    (clip,) = annotate([record], backend, texts="rendered")
    return clip, backend


def failed_checks(tree: dict[str, Any], record: dict[str, Any]) -> list[str]:
    cfg = AnnotateConfig()
    checks = ground(tree, evidence.build(record), cfg.taxonomy)
    assert {c.name for c in checks} == set(CHECKS)
    return [c.reason() for c in checks if not c.ok]


def test_the_model_is_asked_for_the_emotion_only_and_no_qa_call_is_made():
    clip, backend = rendered(measured(), emotion("happy", 0.7, 0.4))
    assert backend.agents() == ["reasoner", "critic"]
    (ask,) = [r for r in backend.requests if r.schema_name == "reasoner"]
    assert list(ask.schema["properties"]) == ["emotion"] and ask.schema["required"] == ["emotion"]
    system = ask.messages[0]["content"]
    assert "emotion only" in system and "caption" not in system
    sent = data_of(ask)
    assert set(sent) == {"transcript", "labels", "summary"}  # no cue catalog
    # no FER share beside a label for the model to copy into valence
    assert sent["labels"] == {"happy": "supported by face, words, voice, transcript"}
    assert clip.verdict == "accepted"
    assert clip.usage["qa"]["rendered"] == 1 and clip.usage["qa"]["calls"] == 0


def test_a_rendered_tree_states_the_measurements_and_passes_every_check():
    record = measured()
    clip, _ = rendered(record, emotion("happy", 0.7, 0.4))
    tree = clip.tree
    assert failed_checks(tree, record) == []
    ev = evidence.build(record)
    cited = [c for s in tree["rationale"] for c in s["cues"]]
    assert cited and all(c in ev.cues for c in cited)
    claims = " ".join(s["claim"] for s in tree["rationale"])
    assert "VADER +0.61" in claims and "vocal arousal +0.41" in claims and "happy 0.96" in claims
    assert tree["rationale"][-1]["claim"].startswith("So the clip reads as happy")
    caption = tree["caption"]
    assert "a woman who appears 26-41 years old speaks" in caption
    assert "glad you came" not in caption  # describes; does not quote the transcript
    assert [e["modality"] for e in tree["expressions"]] == ["facial", "vocal"]
    kinds = [q["question"] for q in tree["qa"]]
    assert len(kinds) == 4 and "age" in kinds[0] and "expression" in kinds[1]
    assert "Happy, with valence +0.7" in tree["qa"][2]["answer"]
    assert {k: tree["sources"][k] for k in ("emotion", "rationale", "caption", "qa")} == {
        "emotion": "model",
        "rationale": "rendered",
        "caption": "rendered",
        "qa": "rendered",
    }


def test_the_conclusion_names_only_the_modalities_it_can_cite():
    # the demo's limits: two cues a step; face, words and voice all support happy
    backend = Scripted({"reasoner": {"emotion": emotion("happy", 0.7, 0.4)}, "critic": ACCEPT})
    (clip,) = annotate(
        [measured()], backend, texts="rendered", limits={"max_cues": 2, "max_steps": 3}
    )
    end = clip.tree["rationale"][-1]
    assert end["claim"] == "So the clip reads as happy, supported by the face and the words."
    assert end["cues"] == ["modality.face", "modality.words"]
    (full,) = annotate([measured()], backend, texts="rendered")
    assert full.tree["rationale"][-1]["claim"].endswith(
        "supported by the face, the words and the voice."
    )


def test_a_conflict_is_written_out_with_the_modality_the_label_follows():
    record = conflicted()
    clip, _ = rendered(record, emotion("happy", 0.4, 0.5))
    tree = clip.tree
    assert tree["conflict"].startswith("the face (valence +0.")
    assert "the words (-0.45) disagree; the label happy follows the face" in tree["conflict"]
    # the conclusion names what the conflict says the label follows
    assert tree["rationale"][-1]["claim"] == (
        "So the clip reads as happy, supported by the face and the voice."
    )
    assert tree["conflict"].endswith("the label happy follows the face and the voice.")
    assert failed_checks(tree, record) == []


def test_a_clip_with_no_face_and_no_speech_makes_no_facial_or_speech_claim():
    record = empty_scene()
    clip, _ = rendered(record, emotion("neutral", 0.0, 0.0, confidence=0.2))
    tree = clip.tree
    assert clip.verdict == "accepted" and failed_checks(tree, record) == []
    assert tree["expressions"] == []
    assert tree["caption"].startswith("Nobody is visible and nothing is said")
    assert "nobody is visible" in tree["qa"][0]["answer"]


def test_a_silent_face_is_described_without_speech():
    record = silent_frowning()
    clip, _ = rendered(record, emotion("sad", -0.5, -0.3))
    tree = clip.tree
    assert failed_checks(tree, record) == []
    assert "is silent" in tree["caption"] and "looks sad" in tree["caption"]
    assert [e["modality"] for e in tree["expressions"]] == ["facial"]
    assert tree["rationale"][-1]["claim"] == (
        "So the clip reads as sad, supported by the face's expression scores."
    )


def test_a_wrong_emotion_still_goes_back_to_the_model():
    record = measured()
    clip, backend = rendered(record, emotion("happy", 0.7, -0.6))
    assert clip.verdict == "rejected"
    assert clip.reasons[0].startswith("affect_agrees: arousal -0.60")
    again = [r for r in backend.requests if r.schema_name == "reasoner"][1]
    assert data_of(again)["previous_emotion"]["arousal"] == -0.6


def test_the_decoded_schema_keeps_valence_and_arousal_on_the_measured_side():
    """Face, words and voice all measured positive valence and arousal: an answer may stay
    near 0 but may not turn clearly negative (affect_agrees, enforced while decoding)."""
    _, backend = rendered(measured(), emotion("happy", 0.7, 0.4))
    (ask,) = [r for r in backend.requests if r.schema_name == "reasoner"]
    emo = ask.schema["properties"]["emotion"]
    assert [b["properties"]["label"] for b in emo.get("anyOf", [emo])] == [{"enum": ["happy"]}]
    for branch in emo.get("anyOf", [emo]):
        props = branch["properties"]
        assert props["arousal"]["minimum"] == -0.19
        assert props["valence"]["minimum"] >= -0.19


def test_the_model_writing_texts_is_not_asked_for_expressions_it_cannot_have():
    backend = Scripted({"reasoner": {"emotion": emotion("neutral", 0.0, 0.0, 0.2)}})
    annotate([empty_scene()], backend, max_revisions=0, critic_llm=False)
    ask = next(r for r in backend.requests if r.schema_name == "reasoner")
    assert ask.schema["properties"]["expressions"]["maxItems"] == 0
    backend = Scripted({"reasoner": {"emotion": emotion("sad", -0.5, -0.3)}})
    annotate([silent_frowning()], backend, max_revisions=0, critic_llm=False)
    ask = next(r for r in backend.requests if r.schema_name == "reasoner")
    kinds = ask.schema["properties"]["expressions"]["items"]["properties"]["modality"]["enum"]
    assert "vocal" not in kinds and "facial" in kinds


def test_exported_rationale_keeps_one_conclusion():
    from emodata.annotate.record import Annotation, RationaleStep
    from emodata.exports.answers import rationale_answer

    clip, _ = rendered(measured(), emotion("happy", 0.7, 0.4))
    steps = Annotation.from_dict(clip.tree).rationale
    answer = rationale_answer(steps, "happy")
    assert answer.count("So ") == 1 and answer.splitlines()[-1].startswith(
        f"{len(steps)}. So the clip reads as happy"
    )
    written = [RationaleStep("She smiles.")]
    assert rationale_answer(written, "happy").endswith("2. So the emotion is happy.")


def test_a_face_is_named_for_a_label_only_when_it_shows_it_most():
    """Anger words in an aroused voice over a stern portrait (neutral 0.47, angry 0.34): the
    face's runner-up is no reason to name it; the model's non-terms are left out."""
    record = measured()
    stern = {"angry": 0.34, "disgust": 0.0, "fear": 0.05, "happy": 0.0}
    stern |= {"neutral": 0.47, "sad": 0.13, "surprise": 0.01}
    record["cues"]["tracks"][0]["expression_mean"] = stern
    record["cues"]["tracks"][0].pop("series")
    words = {"valence": -0.84, "emotions": {"anger": 0.67, "disgust": 0.33}, "emotion_words": 3}
    record["cues"]["words"] = words
    record["cues"]["modality"] = summary(stern, 0.412, words)
    emo = emotion("angry", -0.5, 0.4) | {"terms": ["face", "furious", "+0.79"]}
    clip, _ = rendered(record, emo)
    tree = clip.tree
    assert failed_checks(tree, record) == []
    assert tree["rationale"][-1]["claim"] == (
        "So the clip reads as angry, supported by the words and the voice."
    )
    assert "The face stays neutral." in tree["caption"]
    assert "as angry (furious)" in tree["caption"]
    assert tree["emotion"]["terms"] == ["furious"]
    assert tree["expressions"][0]["modality"] == "vocal"  # a neutral face shows no expression
