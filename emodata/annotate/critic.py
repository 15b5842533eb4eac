"""The critic's deterministic grounding checks: every claim in a tree against measured evidence.

These run before any LLM review, so a tree that cites a cue that does not exist, claims a smile
the expression scores do not show, claims speech on a silent clip, uses a label outside the
taxonomy or no measured modality supports, a valence that contradicts its label or is a copied
FER probability, attributes other than the measured age and gender, or leaves a modality
conflict unexplained is caught whatever the critic model thinks. Each failed check carries its
id and the claim it failed on, and both travel into revision requests and rejection reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from emodata.annotate.evidence import Evidence
from emodata.annotate.record import Check
from emodata.cues.record import Modality

#: Words that claim a facial expression, by the FER2013 class whose score must back them.
EXPRESSION_WORDS: dict[str, tuple[str, ...]] = {
    "happy": ("smil", "grin", "laugh", "beam", "happy", "joy", "cheerful"),
    "sad": ("sad", "frown", "tear", "cry", "crie", "sorrow", "downcast"),
    "angry": ("angry", "anger", "scowl", "glar", "furious", "rage"),
    "fear": ("fear", "afraid", "scared", "terrified", "frighten"),
    "surprise": ("surpris", "astonish", "shock", "startl"),
    "disgust": ("disgust", "grimac", "repuls"),
}
SPEECH_WORDS = (
    "say",
    "said",
    "speak",
    "spoke",
    "talk",
    "tell",
    "told",
    "shout",
    "whisper",
    "word",
    "utter",
    "exclaim",
    "speech",
    "voice",
)
_SCORE = re.compile(r"\s*[:=]?\s*[0-9]*\.?[0-9]+")
_NEGATION = re.compile(
    r"\b(?:not|no|nothing|nobody|without|never|isn't|doesn't|nor)\b(?:\W+\w+){0,2}\W*$"
)


def _mentions(text: str, stems: tuple[str, ...]) -> bool:
    """True when a word starting with one of ``stems`` appears without a negation before it."""
    low = text.lower()
    for m in re.finditer(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", low):
        if _SCORE.match(low, m.end()):
            continue  # "surprise 0.02": a quoted score, not a claim
        if not _NEGATION.search(low[: m.start()]):
            return True
    return False


def _cited(tree: dict[str, Any]) -> list[tuple[str, str]]:
    out = [
        (f"rationale[{i}]", c)
        for i, r in enumerate(tree.get("rationale") or [])
        for c in r.get("cues") or []
    ]
    out += [
        (f"expressions[{i}]", c)
        for i, e in enumerate(tree.get("expressions") or [])
        for c in e.get("cues") or []
    ]
    return out


def check_cues_exist(tree: dict[str, Any], ev: Evidence) -> Check:
    missing = [f"{where} cites '{cue}'" for where, cue in _cited(tree) if cue not in ev.cues]
    if missing:
        return Check(
            "cues_exist", False, "unknown cue id(s): " + "; ".join(missing[:5]), missing[0]
        )
    return Check("cues_exist", True)


def check_label(tree: dict[str, Any], taxonomy: dict[str, tuple[float, float]]) -> Check:
    label = (tree.get("emotion") or {}).get("label")
    if label not in taxonomy:
        return Check(
            "label_in_taxonomy",
            False,
            f"label '{label}' is not in the taxonomy ({', '.join(sorted(taxonomy))})",
            f"emotion.label '{label}'",
        )
    return Check("label_in_taxonomy", True)


def check_valence(tree: dict[str, Any], taxonomy: dict[str, tuple[float, float]]) -> Check:
    emo = tree.get("emotion") or {}
    label, v = emo.get("label"), emo.get("valence")
    if label not in taxonomy or v is None:
        return Check("valence_matches_label", True, "not checked: no label or valence")
    lo, hi = taxonomy[label]
    if not lo <= float(v) <= hi:
        return Check(
            "valence_matches_label",
            False,
            f"valence {float(v):+.2f} contradicts '{label}' (expected {lo:+.2f}..{hi:+.2f})",
            f"emotion.valence {float(v):+.2f}",
        )
    return Check("valence_matches_label", True)


def _facial_claims(tree: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(track or None, where, text) for every statement about a face."""
    out = []
    for i, e in enumerate(tree.get("expressions") or []):
        if e.get("modality") == "facial":
            out.append((e.get("track") or None, f"expressions[{i}]", e.get("description", "")))
    for i, r in enumerate(tree.get("rationale") or []):
        faces = [c.split(".")[1] for c in r.get("cues") or [] if c.startswith("face.")]
        if faces:
            out.append((faces[0], f"rationale[{i}]", r.get("claim", "")))
    return out


def check_faces(tree: dict[str, Any], ev: Evidence) -> Check:
    if not ev.faces_run:
        return Check("faces_exist", True, "not checked: faces did not run")
    facial = [e for e in tree.get("expressions") or [] if e.get("modality") == "facial"]
    known = {c.split(".")[1] for c in ev.cues if c.startswith("face.")}
    if facial and not known:
        return Check(
            "faces_exist",
            False,
            "facial expressions claimed on a clip with no face",
            facial[0].get("description", ""),
        )
    bad = [e.get("track") for e in facial if e.get("track") and e.get("track") not in known]
    if bad:
        return Check(
            "faces_exist",
            False,
            f"unknown face track(s) {bad}; known {sorted(known)}",
            f"expression on track {bad[0]}",
        )
    return Check("faces_exist", True)


def check_expressions(tree: dict[str, Any], ev: Evidence, min_score: float) -> Check:
    if not ev.tracks:
        return Check("expressions_measured", True, "not checked: no expression scores")
    problems, claims = [], []
    for track, where, text in _facial_claims(tree):
        scores = ev.tracks.get(track or "") or ev.tracks.get(ev.main_track or "")
        if scores is None:
            scores = {k: max(t.get(k, 0.0) for t in ev.tracks.values()) for k in EXPRESSION_WORDS}
        for cls, stems in EXPRESSION_WORDS.items():
            if _mentions(text, stems) and scores.get(cls, 0.0) < min_score:
                problems.append(
                    f"{where} claims {cls} ('{text[:60]}') but the measured "
                    f"{cls} score is {scores.get(cls, 0.0):.2f}"
                )
                claims.append(f"{where}: {text}")
    if problems:
        return Check("expressions_measured", False, "; ".join(problems[:3]), claims[0])
    return Check("expressions_measured", True)


def check_speech(tree: dict[str, Any], ev: Evidence, silence_ratio: float) -> Check:
    if not ev.silent(silence_ratio):
        return Check("speech_measured", True, "not checked: speech present or not transcribed")
    claims = [
        (f"expressions[{i}]", e.get("description", ""))
        for i, e in enumerate(tree.get("expressions") or [])
        if e.get("modality") == "vocal"
    ]
    claims += [
        (f"rationale[{i}]", r.get("claim", "")) for i, r in enumerate(tree.get("rationale") or [])
    ]
    claims.append(("caption", tree.get("caption", "")))
    said = [w for w, text in claims if _mentions(text, SPEECH_WORDS)]
    quoted = dict(claims)
    vocal = [
        f"expressions[{i}]"
        for i, e in enumerate(tree.get("expressions") or [])
        if e.get("modality") == "vocal"
    ]
    if said or vocal:
        return Check(
            "speech_measured",
            False,
            f"speech claimed in {sorted(set(said + vocal))} "
            f"but the clip is silent (speech ratio {ev.speech_ratio:.2f})",
            quoted.get((said + vocal)[0], ""),
        )
    return Check("speech_measured", True)


def check_times(tree: dict[str, Any], ev: Evidence) -> Check:
    bad = [
        f"expressions[{i}] {e.get('start_s')}-{e.get('end_s')} s"
        for i, e in enumerate(tree.get("expressions") or [])
        if not 0 <= e.get("start_s", 0) <= e.get("end_s", 0) <= ev.duration_s + 0.5
    ]
    if bad:
        return Check(
            "times_in_clip", False, f"outside the {ev.duration_s:.1f} s clip: {bad[:3]}", bad[0]
        )
    return Check("times_in_clip", True)


_FEMALE = ("female", "woman", "women", "girl", "feminine", "lady")
_MALE = ("male", "man", "men", "boy", "masculine", "gentleman")
_AGE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SECONDS = re.compile(r"\d\s+(?:s|secs?|seconds?)\b")


def _gender_word(text: str) -> str | None:
    words = set(re.findall(r"[a-z]+", text.lower()))
    female, male = bool(words & set(_FEMALE)), bool(words & set(_MALE))
    return "female" if female and not male else "male" if male and not female else None


def check_attributes(tree: dict[str, Any], ev: Evidence, vision: bool = False) -> Check:
    """Age range and gender presentation agree with the age and gender networks.

    A value for a subject the networks did not measure needs a model that saw the frames
    (``vision``); an age range must be an age ("13.5 s long" is not).
    """
    problems = []
    for i, a in enumerate(tree.get("attributes") or []):
        subj = a.get("subject", "")
        age_text = (a.get("age_range") or "").strip()
        where = f"attributes[{i}]"
        if age_text:
            nums = [float(x) for x in _AGE_NUMBER.findall(age_text)]
            measured = ev.ages.get(subj)
            if not nums or max(nums) > 110 or _SECONDS.search(age_text):
                problems.append((f"{where}.age_range '{age_text}'", "is not an age range"))
            elif measured is not None:
                _, lo, hi = measured
                if max(nums) < lo - 5 or min(nums) > hi + 5:
                    problems.append(
                        (
                            f"{where}.age_range '{age_text}'",
                            f"contradicts the measured apparent age of {subj} "
                            f"({lo:.0f}-{hi:.0f}, face.{subj}.age)",
                        )
                    )
            elif not vision:
                problems.append(
                    (f"{where}.age_range '{age_text}'", f"has no measured age for '{subj}'")
                )
        g_text = (a.get("gender_presentation") or "").strip()
        if g_text:
            claimed = _gender_word(g_text)
            measured_g = ev.genders.get(subj)
            if claimed is None and not (vision and measured_g is None):
                problems.append(
                    (f"{where}.gender_presentation '{g_text}'", "is not a gender presentation")
                )
            elif measured_g is not None and claimed != measured_g[0]:
                problems.append(
                    (
                        f"{where}.gender_presentation '{g_text}'",
                        f"contradicts the measured presentation of {subj} "
                        f"({measured_g[0]}, p {measured_g[1]:.2f}, face.{subj}.gender)",
                    )
                )
            elif measured_g is None and not vision:
                problems.append(
                    (
                        f"{where}.gender_presentation '{g_text}'",
                        f"has no measured gender presentation for '{subj}'",
                    )
                )
        sources = tree.get("sources") or {}
        for f in ("appearance", "context"):
            if a.get(f) and sources.get(f"{where}.{f}") == "model" and not vision:
                problems.append(
                    (f"{where}.{f} '{a[f][:60]}'", "was written by a model that saw no frames")
                )
    if problems:
        return Check(
            "attributes_measured",
            False,
            "; ".join(f"{c} {d}" for c, d in problems[:3]),
            problems[0][0],
        )
    return Check("attributes_measured", True)


#: NRC lexicon categories that speak for a taxonomy label.
NRC_LABEL = {
    "joy": "happy",
    "sadness": "sad",
    "anger": "angry",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
}


#: vocal arousal beyond this from 0 is calm (below) or aroused (above); the evidence's words
VOICE_BAND = 0.25


def _arousal_band(x: float) -> int:
    return -1 if x < -VOICE_BAND else 1 if x > VOICE_BAND else 0


@dataclass(frozen=True)
class Support:
    """One thing that speaks for a label: a measured modality (``face``, ``words``, ``voice``)
    or ``transcript``; ``specific`` when it names the label itself (its FER share, its NRC
    category, a near-zero valence for neutral) rather than only a valence sign or arousal."""

    source: str
    text: str
    specific: bool = False

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def label_support(
    modality: Modality,
    taxonomy: dict[str, tuple[float, float]],
    min_score: float,
    neutral_label: str = "neutral",
) -> dict[str, list[Support]]:
    """Per label, what speaks for it.

    Face: the label's FER share reaches ``min_score`` (neutral: also a face valence near 0);
    only the face's dominant class names the label (``specific``), a runner-up at 0.37 beside a
    neutral 0.44 (a stern portrait) is only consistent with it.
    Words: the NRC category of the label holds >= 25% of the emotion words, or VADER valence
    lies in the label's valence range and is at least 0.2 from 0 (neutral: within 0.2 of 0).
    Voice: vocal arousal in the label's band on the circumplex (``CIRCUMPLEX``: calm below
    -0.25, aroused above 0.25, moderate between); neutral takes a calm or moderate voice. Its
    valence is unknown, so it speaks only for labels whose valence range holds a measured
    valence (face or words), or any valence when none was measured.
    Transcript: a clip with words whose VADER valence lies in the label's range. A lexicon
    scores words, not what a sentence means ("I do not want to open it" is -0.06), so a label
    the wording does not contradict may come from reading the transcript; the tree must then
    cite ``speech.transcript`` (check_label_supported).
    """
    from emodata.cues.modality import CIRCUMPLEX

    out: dict[str, list[Support]] = {label: [] for label in taxonomy}
    face, words, voice = modality.face, modality.words, modality.voice
    v = None if words is None or words.valence is None else float(words.valence)
    arousal = None if voice is None else voice.arousal
    for label, (lo, hi) in taxonomy.items():
        said = out[label]
        if face is not None:
            share = float((face.labels or {}).get(label, 0.0))
            fv = float(face.valence or 0.0)
            if share >= min_score:
                # the face's dominant class names the label; a runner-up is consistent with it
                top = face.top == label
                said.append(Support("face", f"{label} {share:.2f} of the expression scores", top))
            elif label == neutral_label and abs(fv) < 0.2:
                said.append(Support("face", f"valence {fv:+.2f}, near 0", True))
        if v is not None:
            shares = (words.labels if words else None) or {}
            nrc = [(k, x) for k, x in shares.items() if NRC_LABEL.get(k) == label and x >= 0.25]
            if nrc:
                said.append(
                    Support("words", f"NRC {nrc[0][0]} {nrc[0][1]:.2f} of emotion words", True)
                )
            elif (lo > 0 or hi < 0) and lo <= v <= hi and abs(v) >= 0.2:
                said.append(Support("words", f"VADER valence {v:+.2f}"))
            elif label == neutral_label and abs(v) < 0.2:
                said.append(Support("words", f"VADER valence {v:+.2f}, near 0", True))
        if arousal is not None:
            band = _arousal_band(float(arousal))
            if label == neutral_label:
                fits = band <= 0
            else:
                fits = label in CIRCUMPLEX and band == _arousal_band(CIRCUMPLEX[label][1]) != 0
            face_v = None if face is None else face.valence
            valences = [float(x) for x in (face_v, v) if x is not None]
            if fits and (not valences or any(lo <= x <= hi for x in valences)):
                said.append(Support("voice", f"arousal {float(arousal):+.2f}"))
        if v is not None and label != neutral_label and lo <= v <= hi:
            said.append(Support("transcript", f"the wording (VADER {v:+.2f}) allows it"))
    return out


def supporting_modalities(
    label: str,
    modality: Modality,
    taxonomy: dict[str, tuple[float, float]],
    min_score: float,
    neutral_label: str = "neutral",
) -> list[str]:
    """The measured modalities whose values speak for ``label`` (see label_support)."""
    said = label_support(modality, taxonomy, min_score, neutral_label).get(label) or []
    return [x.source for x in said if x.source != "transcript"]


def contradicting(
    label: str, modality: Modality, taxonomy: dict[str, tuple[float, float]]
) -> list[str]:
    """The modalities whose clear valence (|x| >= 0.2) lies outside the label's range: words at
    -0.85 contradict neutral (-0.5..0.5) whatever a calm voice and a still face say."""
    lo, hi = taxonomy.get(label, (-1.0, 1.0))
    out = []
    for name in MODALITY_NAMES:
        m = modality.get(name)
        v = None if m is None else m.valence
        if v is not None and abs(float(v)) >= 0.2 and not lo <= float(v) <= hi:
            out.append(name)
    return out


def ranked_labels(
    modality: Modality,
    taxonomy: dict[str, tuple[float, float]],
    min_score: float,
    neutral_label: str = "neutral",
) -> dict[str, list[Support]]:
    """The labels something speaks for, best supported first: most measurements naming the
    label itself, then most measurements consistent with it, then fewest that contradict it
    (``contradicting``), then the transcript (taxonomy order breaks ties). ``neutral_label``
    alone when nothing speaks for any label."""
    support = label_support(modality, taxonomy, min_score, neutral_label)
    if not any(support.values()):
        return {neutral_label: []}
    order = list(support)

    def rank(label: str) -> tuple[int, int, int, int, int]:  # smallest first
        said = support[label]
        measured = [x for x in said if x.source != "transcript"]
        specific = sum(x.specific for x in measured)
        against = len(contradicting(label, modality, taxonomy))
        return (-specific, -len(measured), against, -len(said), order.index(label))

    keep = [label for label in support if support[label]]
    return {label: support[label] for label in sorted(keep, key=rank)}


def offered_labels(
    modality: Modality,
    taxonomy: dict[str, tuple[float, float]],
    min_score: float,
    neutral_label: str = "neutral",
    transcript: bool = True,
) -> dict[str, list[Support]]:
    """What the reasoner may choose from: the best measured labels (every label tied at the
    top of ranked_labels' order) and, with ``transcript``, the labels the transcript allows,
    in ranked order. A label that other labels outrank on the measurements, and whose wording
    contradicts it, is not offered: a small model otherwise picks its favourite label from any
    list. Without ``transcript`` (a model that writes no rationale to say why it read the
    words so) only the best measured labels are offered."""
    ranked = ranked_labels(modality, taxonomy, min_score, neutral_label)

    def tier(label: str) -> tuple[int, int, int]:
        measured = [x for x in ranked[label] if x.source != "transcript"]
        against = len(contradicting(label, modality, taxonomy))
        return (sum(x.specific for x in measured), len(measured), -against)

    measured = [tier(label) for label in ranked if tier(label)[1]]
    best = max(measured, default=None)
    return {
        label: said
        for label, said in ranked.items()
        if (best is not None and tier(label) == best)
        or (transcript and any(x.source == "transcript" for x in said))
        or not said
    }


def check_label_supported(
    tree: dict[str, Any],
    ev: Evidence,
    taxonomy: dict[str, tuple[float, float]],
    min_score: float,
    neutral_label: str = "neutral",
) -> Check:
    """Some measured modality speaks for the label, or the transcript does and the tree says
    so by citing ``speech.transcript`` (label_support has the rules)."""
    label = (tree.get("emotion") or {}).get("label")
    m = ev.modality
    if label not in taxonomy or not m.measured:
        return Check("label_supported", True, "not checked: no label or no modality measured")
    said = label_support(m, taxonomy, min_score, neutral_label).get(label) or []
    if any(x.source != "transcript" for x in said):
        return Check("label_supported", True)
    reads = "speech.transcript" in {c for _, c in _cited(tree)}
    if said and reads:
        return Check("label_supported", True)
    seen = "; ".join(
        ev.cues[f"modality.{k}"]["text"] for k in m.measured if f"modality.{k}" in ev.cues
    )
    why = (
        f"only the transcript could support '{label}', and no step cites speech.transcript"
        if said
        else f"no measured modality supports '{label}'"
    )
    return Check("label_supported", False, f"{why} ({seen})", f"emotion.label '{label}'")


MODALITY_NAMES = ("face", "voice", "words")
_MODALITY_WORDS = {
    "face": ("face", "facial", "expression", "smil", "frown"),
    "voice": ("voice", "vocal", "tone", "prosod", "pitch", "loud", "arousal"),
    "words": ("word", "wording", "transcript", "said", "says", "sentence", "text", "lexic"),
}


def check_conflict_explained(tree: dict[str, Any], ev: Evidence) -> Check:
    """A recorded modality conflict is named in the tree: every disagreeing modality by name."""
    conflicts = ev.modality.conflicts
    if not conflicts:
        return Check("conflict_explained", True, "not checked: no modality conflict")
    text = (tree.get("conflict") or "").strip()
    cited = [
        r.get("claim", "")
        for r in tree.get("rationale") or []
        if "modality.conflict" in (r.get("cues") or [])
    ]
    said = " ".join([text, *cited]).lower()
    needed = {name for c in conflicts for name in c.modalities}
    named = {n for n in needed if any(w in said for w in _MODALITY_WORDS.get(n, (n,)))}
    if said.strip() and named == needed:
        return Check("conflict_explained", True)
    what = ev.cues.get("modality.conflict", {}).get("text", "modalities disagree")
    return Check(
        "conflict_explained",
        False,
        f"{what}; the tree must name the disagreeing modalities and how it resolved them "
        "(the conflict field, or a rationale step citing modality.conflict)",
        f"conflict '{text[:80]}'" if text else "no conflict named",
    )


#: Cues whose numbers are valence or arousal measurements; any other number is unrelated.
_AFFECT_CUES = re.compile(r"^(modality\.|words\.(s\d+\.)?valence$|voice\.arousal$)")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _numbers(v)]
    return []


def check_affect_not_copied(tree: dict[str, Any], ev: Evidence) -> Check:
    """Valence and arousal are not a copy of an unrelated measured number.

    A FER probability, a duration, a geometry ratio or a speech ratio is not an arousal; a
    value equal (to 0.005) to one of them, and not to a valence/arousal measurement, is flagged.
    Round numbers (0, 0.5, 0.8...) collide by chance and are left alone.
    """
    emo = tree.get("emotion") or {}
    legit = set()
    for k, c in ev.cues.items():
        value = c.get("value")
        if k.startswith("modality.") and isinstance(value, dict):
            value = [value.get("valence"), value.get("arousal")]  # not its label shares
        if _AFFECT_CUES.match(k):
            legit.update(_numbers(value))
    problems = []
    for dim in ("valence", "arousal"):
        x = emo.get(dim)
        if x is None or isinstance(x, bool) or abs(float(x) * 10 - round(float(x) * 10)) < 1e-6:
            continue
        x = float(x)
        if any(abs(x - v) < 0.005 for v in legit):
            continue
        for k, c in ev.cues.items():
            if _AFFECT_CUES.match(k):
                continue
            hit = next((n for n in _numbers(c.get("value")) if abs(x - n) < 0.005), None)
            if hit is not None:
                problems.append((dim, x, k, hit))
                break
    if problems:
        dim, x, k, hit = problems[0]
        return Check(
            "affect_not_copied",
            False,
            "; ".join(
                f"{d} {v:+.2f} equals {cue} ({n:g}), which does not measure {d}"
                for d, v, cue, n in problems
            ),
            f"emotion.{dim} {x:+.2f}",
        )
    return Check("affect_not_copied", True)


def check_affect_agrees(tree: dict[str, Any], ev: Evidence, min_level: float = 0.2) -> Check:
    """Valence and arousal do not point against every measurement of them.

    Where each modality that measured a dimension clearly (|value| >= ``min_level``) has one
    sign and the tree's value has the other (a sad sentence with a downcast face given valence
    +0.5), the tree goes back. Modalities that disagree among themselves leave the tree free:
    that is a conflict to explain (conflict_explained), not an error.
    """
    m = ev.modality
    emo = tree.get("emotion") or {}
    problems = []
    for dim in ("valence", "arousal"):
        x = emo.get(dim)
        if x is None or isinstance(x, bool) or abs(float(x)) < min_level:
            continue
        x = float(x)
        values = {k: getattr(a, dim) for k in _MODALITY_WORDS if (a := m.get(k)) is not None}
        clear = {
            k: float(v) for k, v in values.items() if v is not None and abs(float(v)) >= min_level
        }
        if clear and all(v * x < 0 for v in clear.values()):
            seen = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(clear.items()))
            problems.append((dim, x, seen))
    if problems:
        dim, x, _ = problems[0]
        return Check(
            "affect_agrees",
            False,
            "; ".join(f"{d} {v:+.2f} against each measurement ({m})" for d, v, m in problems),
            f"emotion.{dim} {x:+.2f}",
        )
    return Check("affect_agrees", True)


_WORD = re.compile(r"[a-z']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def check_texts_written(tree: dict[str, Any], ev: Evidence, max_copied: float = 0.6) -> Check:
    """The caption describes the clip rather than repeating what is said in it, and no two
    rationale steps make the same claim.

    A caption most of whose words (``max_copied``) run in the transcript's order, eight words
    at a time, is a copy of it; so is a step whose claim is another step's, word for word.
    """
    problems = []
    caption, spoken = _words(tree.get("caption") or ""), _words(ev.transcript or "")
    if len(caption) >= 8 and len(spoken) >= 8:
        runs = {tuple(spoken[i : i + 8]) for i in range(len(spoken) - 7)}
        copied = set()
        for i in range(len(caption) - 7):
            if tuple(caption[i : i + 8]) in runs:
                copied.update(range(i, i + 8))
        if len(copied) / len(caption) > max_copied:
            share = len(copied) / len(caption)
            problems.append(("caption", f"{share:.0%} of the caption repeats the transcript"))
    claims: dict[tuple[str, ...], int] = {}
    for i, step in enumerate(tree.get("rationale") or []):
        key = tuple(_words(step.get("claim") or ""))
        if key and key in claims:
            problems.append((f"rationale[{i}]", f"repeats rationale[{claims[key]}]"))
            break
        claims.setdefault(key, i)
    if problems:
        return Check(
            "texts_written",
            False,
            "; ".join(f"{where} {what}" for where, what in problems)
            + ": describe what is seen and heard, and reason in distinct steps",
            problems[0][0],
        )
    return Check("texts_written", True)


_FACE_WORDS = ("face", "facial", "smil", "frown", "grin", "scowl", "glar", "brow", "eyes")


def check_no_evidence(
    tree: dict[str, Any],
    ev: Evidence,
    silence_ratio: float,
    neutral_label: str = "neutral",
    max_valence: float = 0.3,
    max_confidence: float = 0.4,
) -> Check:
    """A clip with no face and no speech: neutral, |valence| small, low confidence, no faces."""
    if not no_evidence(ev, silence_ratio):
        return Check("no_evidence_neutral", True, "not checked: a face or speech was measured")
    emo = tree.get("emotion") or {}
    problems = []
    if emo.get("label") != neutral_label:
        problems.append((f"emotion.label '{emo.get('label')}'", f"must be '{neutral_label}'"))
    if abs(float(emo.get("valence") or 0.0)) > max_valence:
        problems.append(
            (f"emotion.valence {float(emo['valence']):+.2f}", f"|valence| > {max_valence}")
        )
    if float(emo.get("confidence") or 0.0) > max_confidence:
        problems.append(
            (f"emotion.confidence {float(emo['confidence']):.2f}", f"confidence > {max_confidence}")
        )
    texts = [
        (f"expressions[{i}]", e.get("description", ""))
        for i, e in enumerate(tree.get("expressions") or [])
    ]
    texts += [
        (f"rationale[{i}]", r.get("claim", "")) for i, r in enumerate(tree.get("rationale") or [])
    ]
    texts.append(("caption", tree.get("caption", "")))
    facial = [(w, t) for w, t in texts if _mentions(t, _FACE_WORDS)] + [
        (f"expressions[{i}]", e.get("description", ""))
        for i, e in enumerate(tree.get("expressions") or [])
        if e.get("modality") == "facial"
    ]
    if facial:
        problems.append((f"{facial[0][0]}: {facial[0][1][:60]}", "is a facial claim"))
    if problems:
        return Check(
            "no_evidence_neutral",
            False,
            "no face and no speech measured: " + "; ".join(f"{c} {d}" for c, d in problems[:4]),
            problems[0][0],
        )
    return Check("no_evidence_neutral", True)


def no_evidence(ev: Evidence, silence_ratio: float) -> bool:
    """No face and no speech measured: nothing to read an emotion from."""
    voice = any(k in ev.cues for k in ("voice.arousal", "audio.pitch", "audio.speech_rate"))
    no_speech = ev.silent(silence_ratio) or (ev.speech_ratio is None and not voice)
    return not ev.has_face() and no_speech


def ground(
    tree: dict[str, Any],
    ev: Evidence,
    taxonomy: dict[str, tuple[float, float]],
    *,
    min_claimed_score: float = 0.2,
    silence_ratio: float = 0.05,
    neutral_label: str = "neutral",
    no_evidence_valence: float = 0.3,
    no_evidence_confidence: float = 0.4,
    vision: bool = False,
) -> list[Check]:
    """All deterministic checks on one tree; a tree passes when every check is ok."""
    return [
        check_cues_exist(tree, ev),
        check_label(tree, taxonomy),
        check_valence(tree, taxonomy),
        check_faces(tree, ev),
        check_expressions(tree, ev, min_claimed_score),
        check_speech(tree, ev, silence_ratio),
        check_times(tree, ev),
        check_attributes(tree, ev, vision),
        check_label_supported(tree, ev, taxonomy, min_claimed_score, neutral_label),
        check_conflict_explained(tree, ev),
        check_affect_not_copied(tree, ev),
        check_affect_agrees(tree, ev),
        check_texts_written(tree, ev),
        check_no_evidence(
            tree, ev, silence_ratio, neutral_label, no_evidence_valence, no_evidence_confidence
        ),
    ]


CHECKS = (
    "cues_exist",
    "label_in_taxonomy",
    "valence_matches_label",
    "faces_exist",
    "expressions_measured",
    "speech_measured",
    "times_in_clip",
    "attributes_measured",
    "label_supported",
    "conflict_explained",
    "affect_not_copied",
    "affect_agrees",
    "texts_written",
    "no_evidence_neutral",
)
