"""The cue-first tree: measured attributes, rendered notes, and the critic checks that name why.

A scripted stand-in backend answers each agent; what is tested is the code around the model:
which agents call it, what the tree takes from measurements, and what the critic sends back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emodata.annotate import evidence, notes
from emodata.annotate.backends import Backend, Request, Response
from emodata.annotate.critic import ground
from emodata.annotate.engine import Annotator, Clip
from emodata.annotate.settings import DEFAULT_TAXONOMY, AnnotateConfig
from tests.annotate.fault_server import ANSWERS
from tests.annotate.records import (
    conflicted,
    empty_scene,
    good_tree,
    measured,
    neutral_tree,
    silent_frowning,
    smiling,
    summary,
)


class Scripted(Backend):
    """Answers each agent with a fixed value (or a function of the request)."""

    def __init__(self, answers: dict[str, Any], vision: bool = False) -> None:
        self.answers = {**ANSWERS, **answers}
        self.vision = vision
        self.model_id = "scripted"
        self.requests: list[Request] = []

    def generate(self, requests: list[Request]) -> list[Response]:
        out = []
        for r in requests:
            self.requests.append(r)
            a = self.answers[r.schema_name]
            value = a(r) if callable(a) else a
            out.append(Response(r.id, json.dumps(value), prompt_tokens=10, completion_tokens=5))
        return out

    def agents(self) -> list[str]:
        return [r.schema_name for r in self.requests]


def annotate(records, backend: Scripted, **cfg) -> list[Clip]:
    ann = Annotator(AnnotateConfig(**cfg), {"default": backend}, None)
    clips = [Clip(r["key"], r, evidence.build(r)) for r in records]
    ann.run(clips)
    for c in clips:
        c.tree = ann.tree(c)  # type: ignore[attr-defined]
    return clips


def data_of(request: Request) -> dict[str, Any]:
    text = request.messages[1]["content"]
    return json.loads(text.split("```json\n", 1)[1].rsplit("\n```", 1)[0])


def reasoner(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: tree[k] for k in ("expressions", "emotion", "rationale", "conflict", "caption")}


def happy_tree() -> dict[str, Any]:
    t = good_tree()
    t["conflict"] = ""
    t["caption"] += " " + "She looks at the camera and speaks warmly. " * 4
    return t


def failed(tree, record, **kw) -> dict[str, str]:
    checks = ground(tree, evidence.build(record), DEFAULT_TAXONOMY, **kw)
    return {c.name: c.reason() for c in checks if not c.ok}


# ---- attributes come from measurements ------------------------------------------------------
def test_measured_age_and_gender_win_over_what_a_vision_model_wrote():
    perceiver = {
        "attributes": [
            {
                "subject": "t0",
                "age_range": "13.5 s long",
                "gender_presentation": "male",
                "appearance": "a red scarf, short dark hair",
                "context": "a kitchen",
            }
        ],
        "expressions": [],
        "scene": "a kitchen",
    }
    backend = Scripted({"perceiver": perceiver, "reasoner": reasoner(happy_tree())}, vision=True)
    (clip,) = annotate([measured()], backend)
    assert "perceiver" in backend.agents()  # a vision model still looks at the frames
    (attr,) = clip.tree["attributes"]
    assert attr["age_range"] == "26-41" and attr["gender_presentation"] == "female"
    assert attr["appearance"] == "a red scarf, short dark hair"
    assert attr["cues"] == ["face.t0.age", "face.t0.gender"]
    src = clip.tree["sources"]
    assert src["attributes[0].age_range"] == src["attributes[0].gender_presentation"] == "measured"
    assert src["attributes[0].appearance"] == src["attributes[0].context"] == "model"
    assert src["notes.perceiver"] == "model" and src["emotion"] == "model"
    assert clip.verdict == "accepted", clip.feedback


def test_a_text_only_model_adds_no_attribute_it_has_no_basis_for():
    backend = Scripted({"reasoner": reasoner(happy_tree())})
    (clip,) = annotate([measured()], backend)
    (attr,) = clip.tree["attributes"]
    assert (attr["appearance"], attr["context"]) == ("", "")
    assert {k: v for k, v in clip.tree["sources"].items() if k.startswith("attr")} == {
        "attributes[0].age_range": "measured",
        "attributes[0].gender_presentation": "measured",
    }


# ---- text-only: perceiver and listener notes are rendered -----------------------------------
def test_text_only_perceiver_and_listener_make_no_model_call():
    backend = Scripted({"reasoner": reasoner(happy_tree())})
    (clip,) = annotate([measured()], backend)
    assert backend.agents() == ["reasoner", "critic", "qa"]
    for agent in ("perceiver", "listener"):
        u = clip.usage[agent]
        assert (u["calls"], u["prompt_tokens"], u["completion_tokens"]) == (0, 0, 0)
        assert u["rendered"] == 1 and u["model"] == notes.RENDERED
    sent = data_of(backend.requests[0])
    # the reasoner gets the cue catalog and, of the rendered notes, only the expression spans
    face = sent["perceiver"]["expressions"][0]
    assert face["description"] == "happy expression (mean FER score 0.96)"
    assert (face["start_s"], face["end_s"], face["cues"]) == (1.0, 5.0, ["face.t0.expression"])
    assert list(sent) == ["transcript", "labels", "summary", "cues", "perceiver"]
    assert set(sent["perceiver"]) == {"expressions"}
    assert sent["transcript"] == "I am so glad you came today."
    # the notes themselves are kept on the clip, rendered from the measurements
    (attr,) = clip.outputs["perceiver"]["attributes"]
    assert attr["gender_presentation"] == "female"
    assert "mouth opening 0.15" in clip.outputs["perceiver"]["geometry"][0]["description"]
    heard = clip.outputs["listener"]
    assert heard["quotes"][0]["text"] == "I am so glad you came today."
    assert heard["quotes"][0]["cues"] == ["speech.transcript", "words.s0.valence"]
    assert "voice.arousal" in heard["vocal"][0]["cues"]
    assert "positive wording" in heard["words"]["description"]


def test_rendered_notes_of_a_silent_faceless_clip_forbid_face_and_speech_claims():
    ev = evidence.build(empty_scene())
    seen = notes.perceiver(ev, 0.2)
    heard = notes.listener(ev, empty_scene(), 0.05)
    assert seen["expressions"] == [] and seen["attributes"] == []
    assert "no facial claim" in seen["faces"]
    assert heard["speech"] == "" and heard["vocal"] == [] and heard["quotes"] == []
    assert "no claim about what is said" in heard["note"]


# ---- each new check: passes a good tree, fails a planted bad one, names itself --------------
def test_good_trees_pass_every_check():
    assert failed(good_tree(), measured()) == {}
    assert failed(neutral_tree(), empty_scene()) == {}
    tree = good_tree()
    tree["emotion"].update(label="sad", valence=-0.4, arousal=0.1, confidence=0.5)
    tree["expressions"] = tree["expressions"][:1]
    tree["conflict"] = "The face smiles but the words are sad; the label follows the words."
    assert failed(tree, conflicted()) == {}


@pytest.mark.parametrize(
    "age,gender,fragment",
    [
        ("13.5 s long", "female", "is not an age range"),
        ("60-70", "female", "contradicts the measured apparent age"),
        ("25-40", "male", "contradicts the measured presentation"),
        ("25-40", "1.0.1.1", "is not a gender presentation"),
    ],
)
def test_attributes_against_the_measured_age_and_gender(age, gender, fragment):
    tree = good_tree()
    attr = {"subject": "t0", "age_range": age, "gender_presentation": gender}
    tree["attributes"] = [attr | {"appearance": "", "context": ""}]
    bad = failed(tree, measured())
    assert set(bad) == {"attributes_measured"}
    assert bad["attributes_measured"].startswith("attributes_measured: ")
    assert (
        fragment in bad["attributes_measured"]
        and "[claim: attributes[0]." in bad["attributes_measured"]
    )
    tree["attributes"][0] |= {"age_range": "28-38", "gender_presentation": "woman"}
    assert failed(tree, measured()) == {}


def test_attributes_without_a_measurement_need_a_vision_model():
    tree = good_tree()
    tree["attributes"] = [
        {
            "subject": "t0",
            "age_range": "30-40",
            "gender_presentation": "female",
            "appearance": "",
            "context": "",
        }
    ]
    assert "attributes_measured" in failed(tree, smiling())  # no age/gender measured
    assert "attributes_measured" not in failed(tree, smiling(), vision=True)


def test_a_label_no_measured_modality_supports_is_sent_back():
    tree = good_tree()
    tree["emotion"].update(label="angry", valence=-0.6)
    tree["expressions"] = []
    tree["caption"] = "A person."
    tree["rationale"] = [{"claim": "Tense.", "cues": ["voice.arousal"]}]
    bad = failed(tree, measured())
    assert set(bad) == {"label_supported", "affect_agrees"}  # face and words are positive
    assert "no measured modality supports 'angry'" in bad["label_supported"]
    assert "[claim: emotion.label 'angry']" in bad["label_supported"]


def test_a_modality_conflict_left_unexplained_is_sent_back():
    tree = good_tree()  # happy, like the face; the words are sad
    bad = failed(tree, conflicted())
    assert set(bad) == {"conflict_explained"}
    assert "face" in bad["conflict_explained"] and "words" in bad["conflict_explained"]
    tree["conflict"] = "happy expression (mean FER score 0.96)"  # names the face only
    assert set(failed(tree, conflicted())) == {"conflict_explained"}
    tree["conflict"] = ""
    tree["rationale"].append(
        {
            "claim": "The face smiles while the wording is sad; the smile dominates.",
            "cues": ["modality.conflict", "modality.face"],
        }
    )
    assert failed(tree, conflicted()) == {}


@pytest.mark.parametrize(
    "dim,value,cue",
    [("arousal", 0.96, "face.t0.expression"), ("valence", 0.26, "face.t0.brow_raise")],
)
def test_valence_or_arousal_copied_from_an_unrelated_number_is_flagged(dim, value, cue):
    tree = good_tree()
    tree["emotion"][dim] = value
    bad = failed(tree, measured())
    assert set(bad) == {"affect_not_copied"}
    assert cue in bad["affect_not_copied"] and f"[claim: emotion.{dim}" in bad["affect_not_copied"]
    tree["emotion"][dim] = 0.4115 if dim == "arousal" else 0.6115  # measured: related numbers
    tree["emotion"]["arousal"] = 0.412 if dim == "arousal" else 0.5
    assert failed(tree, measured()) == {}


def test_the_clip_with_no_face_and_no_speech_gets_neutral():
    assert failed(neutral_tree(), empty_scene()) == {}
    for change, claim in [
        ({"label": "happy", "valence": 0.6}, "emotion.label 'happy'"),
        ({"valence": 0.45}, "emotion.valence +0.45"),
        ({"confidence": 0.9}, "emotion.confidence 0.90"),
    ]:
        tree = neutral_tree()
        tree["emotion"].update(change)
        bad = failed(tree, empty_scene())
        assert "no_evidence_neutral" in bad and claim in bad["no_evidence_neutral"], bad
    tree = neutral_tree()
    tree["caption"] = "A smiling stranger walks by."
    bad = failed(tree, empty_scene())
    assert "is a facial claim" in bad["no_evidence_neutral"]
    assert "no_evidence_neutral" not in failed(good_tree(), silent_frowning())  # a face


# ---- the loop: revision requests and rejections name check and claim --------------------------
def test_revision_requests_and_rejections_name_the_check_and_the_claim():
    bad = neutral_tree() | {"emotion": dict(neutral_tree()["emotion"], label="happy", valence=1.0)}
    bad["caption"] += " " + "Nothing else happens in the frame. " * 8
    backend = Scripted({"reasoner": reasoner(bad)})
    (clip,) = annotate([empty_scene()], backend, max_revisions=1)
    assert clip.verdict == "rejected" and clip.revisions == 1
    assert clip.reasons and all(r.split(":")[0] == "no_evidence_neutral" for r in clip.reasons)
    assert "[claim: emotion.label 'happy']" in clip.reasons[0]
    assert clip.requests == clip.reasons
    again = data_of([r for r in backend.requests if r.schema_name == "reasoner"][1])
    assert again["critic_feedback"] == clip.reasons
    assert len(again["previous_tree"]["caption"]) <= 300 < len(bad["caption"])  # kept short
    assert clip.check_runs["no_evidence_neutral"] == [2, 2]
    assert clip.check_runs["cues_exist"] == [2, 0]


def test_a_model_critic_rejecting_without_reasons_is_still_named():
    good = neutral_tree()
    good["caption"] += " " + "Nothing else happens in the frame. " * 4
    backend = Scripted({"reasoner": reasoner(good), "critic": {"verdict": "reject", "reasons": []}})
    (clip,) = annotate([empty_scene()], backend)
    assert clip.verdict == "rejected"
    assert clip.reasons == ["critic_llm: answered reject without a reason"]


def test_schema_sizes_are_config():
    from emodata.annotate.prompts import output_schema, system_prompt

    cfg = AnnotateConfig(limits={"caption_words": (10, 20), "qa_pairs": (2, 3)})
    reasoner_schema = output_schema("reasoner", ["happy"], limits=cfg.limits)
    assert reasoner_schema["properties"]["caption"]["maxLength"] == 20 * 8
    assert "conflict" in reasoner_schema["required"]
    qa = output_schema("qa", ["happy"], limits=cfg.limits)["properties"]["qa"]
    assert (qa["minItems"], qa["maxItems"]) == (2, 3)
    assert "10-20 words" in system_prompt("reasoner", cfg.agents["reasoner"], ["happy"], cfg.limits)
    default = output_schema("reasoner", ["happy"])["properties"]["caption"]
    assert default["maxLength"] >= 150 * 6 and default["minLength"] >= 100


# ---- what the measurements settle is in the schema the backend decodes under ----------------
def test_a_clip_without_face_or_speech_is_asked_for_a_low_confidence_neutral():
    backend = Scripted({"reasoner": reasoner(neutral_tree())})
    annotate([empty_scene()], backend)
    asked = next(r for r in backend.requests if r.schema_name == "reasoner").schema
    emo = asked["properties"]["emotion"]["properties"]
    cfg = AnnotateConfig()
    assert emo["label"] == {"enum": [cfg.neutral_label]}
    assert (emo["valence"]["minimum"], emo["valence"]["maximum"]) == (
        -cfg.no_evidence_valence,
        cfg.no_evidence_valence,
    )
    assert emo["confidence"]["maximum"] == cfg.no_evidence_confidence
    assert "minLength" not in asked["properties"]["conflict"]  # nothing disagrees


def test_a_measured_conflict_must_be_written():
    backend = Scripted({"reasoner": reasoner(happy_tree())})
    annotate([conflicted(), measured()], backend)
    conflicted_ask, plain_ask = [r.schema for r in backend.requests if r.schema_name == "reasoner"][
        :2
    ]
    assert conflicted_ask["properties"]["conflict"]["minLength"] == 30
    assert "minLength" not in plain_ask["properties"]["conflict"]


def _reasoner_request(record: dict[str, Any]) -> Request:
    backend = Scripted({"reasoner": reasoner(happy_tree())})
    annotate([record], backend, max_revisions=0, critic_llm=False)
    return next(r for r in backend.requests if r.schema_name == "reasoner")


def asked_labels(record: dict[str, Any]) -> list[str]:
    emotion = _reasoner_request(record).schema["properties"]["emotion"]
    return [b["properties"]["label"]["enum"][0] for b in emotion.get("anyOf", [emotion])]


def test_the_reasoner_is_offered_only_the_labels_something_supports_best_first():
    """A smiling face saying a glad sentence in an aroused voice: happy (face, words, voice),
    surprise (an aroused voice; a sentence could still state it). Sad, angry, fear, disgust and
    contempt contradict every measured valence, and nothing speaks for neutral."""
    assert asked_labels(measured()) == ["happy", "surprise"]
    # the smiling face reading a sad sentence: the words' sad and the face's happy lead
    labels = asked_labels(conflicted())
    assert labels[:2] == ["happy", "sad"] and "neutral" not in labels
    sent = data_of(_reasoner_request(conflicted()))
    assert list(sent["labels"]) == labels
    assert sent["labels"]["sad"].startswith("words: NRC sadness 1.00")
    assert sent["labels"]["contempt"] == "transcript"


def test_each_label_is_asked_with_its_own_valence_range():
    """Structured output cannot pair a label with a valence the taxonomy rules out."""
    import jsonschema

    asked = _reasoner_request(conflicted()).schema
    for branch in asked["properties"]["emotion"]["anyOf"]:
        (label,) = branch["properties"]["label"]["enum"]
        valence = branch["properties"]["valence"]
        lo, hi = DEFAULT_TAXONOMY[label]
        assert (valence["minimum"], valence["maximum"]) == (lo, hi)
    emotion = happy_tree()["emotion"]
    check = jsonschema.Draft202012Validator(asked["properties"]["emotion"])
    assert check.is_valid(emotion)
    assert not check.is_valid(emotion | {"label": "sad"})  # happy's positive valence
    assert check.is_valid(emotion | {"label": "sad", "valence": -0.4})
    # happy is not offered for a clip whose every measurement is negative
    rec = conflicted()
    rec["cues"]["tracks"][0]["expression_mean"] = dict.fromkeys(DEFAULT_TAXONOMY, 0.0) | {
        "sad": 0.9,
        "neutral": 0.1,
    }
    del rec["cues"]["tracks"][0]["expression_mean"]["contempt"]
    rec["cues"]["modality"] = summary(
        rec["cues"]["tracks"][0]["expression_mean"], 0.412, rec["cues"]["words"]
    )
    asked = _reasoner_request(rec).schema["properties"]["emotion"]
    check = jsonschema.Draft202012Validator(asked)
    assert not check.is_valid(emotion)


def test_an_answer_outside_the_narrowed_schema_meets_the_critic_not_a_schema_error():
    """A backend without structured output may still say 'happy' for an empty street: the
    critic names the check, as for any other ungrounded claim."""
    bad = neutral_tree() | {"emotion": dict(neutral_tree()["emotion"], label="happy", valence=1.0)}
    bad["caption"] += " " + "Nothing else happens in the frame. " * 8
    (clip,) = annotate([empty_scene()], Scripted({"reasoner": reasoner(bad)}), max_revisions=0)
    assert clip.error is None and clip.verdict == "rejected"
    assert clip.reasons[0].startswith("no_evidence_neutral")


def test_valence_against_every_measurement_of_it_goes_back():
    """The sample set's sad clip got valence +0.50 with face and words both clearly negative."""
    rec = measured()
    words = {"valence": -0.85, "emotions": {"sadness": 1.0}, "emotion_words": 2, "segments": []}
    sad_face = {"sad": 0.6, "neutral": 0.4}
    rec["cues"]["words"] = words
    rec["cues"]["modality"] = summary(sad_face, -0.55, words)
    tree = good_tree()
    tree["emotion"].update(label="neutral", valence=0.4, arousal=0.3)
    bad = failed(tree, rec)
    assert (
        "affect_agrees" in bad and "valence +0.40 against each measurement" in bad["affect_agrees"]
    )
    assert "words -0.85" in bad["affect_agrees"]
    tree["emotion"].update(valence=-0.3, arousal=-0.3)
    assert "affect_agrees" not in failed(tree, rec)
    # modalities that disagree leave the tree free: a conflict to explain, not this check
    tree["emotion"].update(label="happy", valence=0.6, arousal=0.4)
    assert "affect_agrees" not in failed(tree, conflicted())


def test_a_caption_that_repeats_the_transcript_or_a_repeated_step_goes_back():
    rec = measured()
    text = "I heard a noise behind the door, I am scared, and I am afraid to open it."
    rec["transcript"]["text"] = text
    rec["transcript"]["segments"][0]["text"] = text
    tree = good_tree()
    tree["caption"] = text + " I am scared."
    bad = failed(tree, rec)
    assert set(bad) == {"texts_written"}
    assert "of the caption repeats the transcript" in bad["texts_written"]
    tree["caption"] = (
        "A woman looks toward a door and says, in a fast high voice, that she is scared."
    )
    assert failed(tree, rec) == {}
    tree["rationale"].append(dict(tree["rationale"][0]))
    bad = failed(tree, rec)
    assert (
        set(bad) == {"texts_written"}
        and "rationale[2] repeats rationale[0]" in bad["texts_written"]
    )
