"""What speaks for a label, what the reasoner is shown, and texts cut at their length limit."""

from __future__ import annotations

import copy

from emodata.annotate import evidence
from emodata.annotate.critic import (
    check_label_supported,
    label_support,
    ranked_labels,
    supporting_modalities,
)
from emodata.annotate.engine import Annotator, finish_texts
from emodata.annotate.settings import DEFAULT_TAXONOMY, AnnotateConfig
from emodata.cues.modality import summarise
from emodata.cues.record import Modality, WordsCues
from tests.annotate.records import good_tree, measured

FACE_NEUTRAL = {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.05}
FACE_NEUTRAL |= {"neutral": 0.9, "sad": 0.05, "surprise": 0.0}


def words(valence: float, **nrc: float) -> WordsCues:
    return WordsCues(valence=valence, emotions=nrc or {}, emotion_words=len(nrc))


def sources(modality: Modality, label: str) -> list[str]:
    return [x.source for x in label_support(modality, DEFAULT_TAXONOMY, 0.2)[label]]


def test_a_lexicon_blind_sentence_leaves_its_label_to_the_transcript():
    """'I heard a noise behind the door and I do not want to open it': VADER -0.06, no NRC
    fear word. Fear is the transcript's to settle; happy contradicts the wording."""
    m = summarise(FACE_NEUTRAL, None, words(-0.06))
    assert sources(m, "fear") == ["transcript"]
    assert supporting_modalities("fear", m, DEFAULT_TAXONOMY, 0.2) == []
    assert "happy" not in ranked_labels(m, DEFAULT_TAXONOMY, 0.2)
    assert sources(m, "neutral") == ["face", "words"]


def test_voice_arousal_speaks_only_for_labels_a_measured_valence_allows():
    aroused = summarise(FACE_NEUTRAL | {"sad": 0.6, "neutral": 0.35}, 0.5, words(0.6, joy=1.0))
    # face valence is negative (sad), words positive: both signs are allowed
    assert "voice" in sources(aroused, "angry") and "voice" in sources(aroused, "happy")
    assert "voice" not in sources(aroused, "sad")  # sad is calm on the circumplex
    smiling = summarise(FACE_NEUTRAL | {"happy": 0.9, "neutral": 0.05}, 0.5, words(0.6))
    assert "angry" not in ranked_labels(smiling, DEFAULT_TAXONOMY, 0.2)  # nothing negative
    calm = summarise(None, -0.5, None)
    assert sources(calm, "neutral") == ["voice"] and sources(calm, "sad") == ["voice"]


def test_labels_naming_evidence_rank_before_labels_only_consistent_with_it():
    """Negative words in an aroused voice are consistent with angry, fear and disgust alike;
    the NRC sadness share names sad, so sad leads."""
    m = summarise(None, 0.4, words(-0.45, sadness=1.0))
    ranked = list(ranked_labels(m, DEFAULT_TAXONOMY, 0.2))
    assert ranked[0] == "sad" and set(ranked[1:4]) == {"angry", "fear", "disgust"}
    assert "neutral" not in ranked  # an aroused voice and negative words: nothing for it
    assert ranked_labels(summarise(None, None, None), DEFAULT_TAXONOMY, 0.2) == {"neutral": []}


def test_a_transcript_only_label_must_cite_the_transcript():
    rec = measured()
    rec["cues"]["modality"] = summarise(FACE_NEUTRAL, 0.1, words(-0.06)).to_dict()
    ev = evidence.build(rec)
    tree = good_tree()
    tree["emotion"].update(label="fear", valence=-0.5)
    tree["rationale"] = [{"claim": "The face is calm.", "cues": ["face.t0.expression"]}]
    tree["expressions"] = tree["expressions"][:1]  # the face only
    check = check_label_supported(tree, ev, DEFAULT_TAXONOMY, 0.2)
    assert not check.ok and "no step cites speech.transcript" in check.detail
    tree["rationale"].append(
        {"claim": "The speaker fears what is behind the door.", "cues": ["speech.transcript"]}
    )
    assert check_label_supported(tree, ev, DEFAULT_TAXONOMY, 0.2).ok
    tree["emotion"].update(label="happy", valence=0.5)  # the wording contradicts it
    check = check_label_supported(tree, ev, DEFAULT_TAXONOMY, 0.2)
    assert not check.ok and "no measured modality supports 'happy'" in check.detail


class _Text:
    vision = False
    model_id = "none"


def test_the_catalog_keeps_the_main_subject_and_puts_the_summary_first():
    rec = measured()
    other = copy.deepcopy(rec["cues"]["tracks"][0]) | {"track": 1}
    rec["cues"]["tracks"].append(other)
    rec["faces"]["tracks"].append({"id": 1, "quality": {"presence": 0.5, "size_px": 40.0}})
    ev = evidence.build(rec)
    assert "face.t1.expression" in ev.cues
    ids = Annotator(AnnotateConfig(), {"default": _Text()}, None).catalog(ev)
    assert not any(k.startswith("face.t1.") for k in ids)
    assert "faces.count" in ids and "face.t0.expression" in ids
    assert ids[0].startswith("modality.") and ids.index("words.valence") < ids.index(
        "clip.duration"
    )


def test_a_text_cut_at_its_length_limit_ends_at_its_last_sentence():
    schema = {"type": "string", "maxLength": 70, "minLength": 10}
    cut = "A woman speaks calmly. Her face stays neutral while she says the meet"
    assert len(cut) >= 69
    assert finish_texts(cut, schema) == cut  # its only full sentence is under half of it
    cut = "A woman speaks calmly to the camera. Her face stays neutral. She says th"
    assert finish_texts(cut, schema | {"maxLength": len(cut)}) == (
        "A woman speaks calmly to the camera. Her face stays neutral."
    )
    done = "A woman speaks calmly."
    assert finish_texts(done, schema) == done
    tree = {"caption": cut, "rationale": [{"claim": cut, "cues": []}]}
    tree_schema = {
        "properties": {
            "caption": {"type": "string", "maxLength": len(cut), "minLength": 65},
            "rationale": {
                "items": {"properties": {"claim": {"type": "string", "maxLength": len(cut)}}}
            },
        }
    }
    out = finish_texts(tree, tree_schema)
    assert out["caption"] == cut  # trimming would break its minLength
    assert out["rationale"][0]["claim"].endswith("neutral.")


def test_labels_the_measurements_outrank_are_not_offered_unless_the_words_allow_them():
    """A smiling face saying a neutral sentence in a calm voice: neutral (words, voice)
    outranks happy (face), and the neutral wording allows surprise and contempt, not happy."""
    from emodata.annotate.critic import offered_labels

    smiling = FACE_NEUTRAL | {"happy": 1.0, "neutral": 0.0, "sad": 0.0}
    m = summarise(smiling, -0.56, words(0.0, anticipation=1.0))
    assert list(offered_labels(m, DEFAULT_TAXONOMY, 0.2)) == ["neutral", "surprise", "contempt"]
    assert "happy" in ranked_labels(m, DEFAULT_TAXONOMY, 0.2)  # supported, only outranked
    # labels tied at the top are all offered; a face's runner-up class does not name its label
    mixed = summarise(FACE_NEUTRAL | {"happy": 0.5, "neutral": 0.0, "sad": 0.45}, None, None)
    # (the mixed face is also near zero valence: neutral ties with happy)
    assert set(offered_labels(mixed, DEFAULT_TAXONOMY, 0.2)) == {"happy", "neutral"}
    assert "sad" in ranked_labels(mixed, DEFAULT_TAXONOMY, 0.2)  # supported, only outranked


def test_a_stern_face_does_not_outrank_the_words_that_name_the_emotion():
    """Fear words in an aroused voice, read over a portrait FER scores neutral 0.44, angry 0.37
    (talk_005 of the sample set): fear is named by the words; angry only fits the face."""
    from emodata.annotate.critic import offered_labels

    stern = FACE_NEUTRAL | {"neutral": 0.44, "angry": 0.37, "happy": 0.0, "sad": 0.1}
    m = summarise(stern, 0.47, words(-0.44, fear=1.0))
    assert next(iter(ranked_labels(m, DEFAULT_TAXONOMY, 0.2))) == "fear"
    assert "angry" in offered_labels(m, DEFAULT_TAXONOMY, 0.2)  # the wording allows it
    assert list(offered_labels(m, DEFAULT_TAXONOMY, 0.2, transcript=False)) == ["fear"]


def test_between_equally_supported_labels_the_one_no_measurement_contradicts_leads():
    """Sad words (VADER -0.85) in a calm voice over a still face (talk_001 of the sample set):
    sad (words, voice) and neutral (face, voice) are equally supported, but words at -0.85 lie
    outside neutral's valence range, so sad leads and is offered alone."""
    from emodata.annotate.critic import contradicting, offered_labels

    still = FACE_NEUTRAL | {"neutral": 0.5, "angry": 0.33, "happy": 0.0, "sad": 0.07}
    m = summarise(still, -0.55, words(-0.85, sadness=0.4, fear=0.2))
    assert contradicting("neutral", m, DEFAULT_TAXONOMY) == ["words"]
    assert contradicting("sad", m, DEFAULT_TAXONOMY) == []
    assert list(ranked_labels(m, DEFAULT_TAXONOMY, 0.2))[:2] == ["sad", "neutral"]
    assert list(offered_labels(m, DEFAULT_TAXONOMY, 0.2, transcript=False)) == ["sad"]
