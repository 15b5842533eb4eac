"""Affect of the words said: lexicon valence (VADER) and emotion categories (NRC).

VADER (Hutto & Gilbert 2014, the ``vaderSentiment`` package, lexicon inside it) scores valence
with its rules for negation ("not happy" is negative), intensifiers, "but" and emphasis; its
compound score is in [-1, 1]. The NRC word-emotion lexicon (registry entry
``nrc-emotion-lexicon``, taken out of the ``nrclex`` wheel) counts words associated with eight
emotions; a word inside a negation scope (a negator among the three words before it, VADER's
list) is not counted, since the lexicon has no rule for it. Both are about the words only:
sarcasm and tone of voice are not visible to them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from emodata.asr.base import Transcript
from emodata.cues.record import WordsCues, WordSegment

NRC_EMOTIONS = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "sadness",
    "surprise",
    "trust",
)
CUES = {
    "valence": "VADER compound valence of the transcript, with negation, intensifiers and "
    "'but' handled, -1 (negative) to 1 (positive); per segment and for the whole text",
    "emotions": "NRC emotion lexicon: share of the matched emotion-word associations per "
    "category (" + ", ".join(NRC_EMOTIONS) + "); negated words skipped",
}
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def require_vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise ImportError(
            "words' affect needs vaderSentiment: pip install 'emodata[faces]'"
        ) from None
    return SentimentIntensityAnalyzer


@dataclass
class WordsAffect:
    """VADER valence and NRC categories of a transcript and of each of its segments."""

    lexicon_model: str | None = "nrc-emotion-lexicon"
    nrc: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def load(self) -> None:
        from emodata.models import resolve

        self.vader = require_vader()()
        if self.lexicon_model:
            path = resolve(self.lexicon_model) / "nrc_en.json"
            self.nrc = json.loads(path.read_text("utf-8"))

    def valence(self, text: str) -> float | None:
        if not text.strip():
            return None
        return round(float(self.vader.polarity_scores(text)["compound"]), 4)

    def emotions(self, text: str) -> tuple[dict[str, float], int]:
        """(share per NRC emotion, number of emotion words counted)."""
        if not self.nrc:
            return {}, 0
        from vaderSentiment.vaderSentiment import NEGATE

        negators = {w.replace("'", "") for w in NEGATE} | {"no"}
        tokens = _TOKEN.findall(text.lower())
        counts = dict.fromkeys(NRC_EMOTIONS, 0)
        words = 0
        for i, tok in enumerate(tokens):
            cats = [c for c in self.nrc.get(tok, []) if c in counts]
            if not cats:
                continue
            before = {t.replace("'", "") for t in tokens[max(0, i - 3) : i]}
            if before & negators:
                continue
            words += 1
            for c in cats:
                counts[c] += 1
        total = sum(counts.values())
        if not total:
            return {}, 0
        return {c: round(n / total, 3) for c, n in counts.items() if n}, words

    def measure(self, transcript: Transcript | None) -> WordsCues | None:
        """Words' affect of a transcript, or None when nothing was said."""
        if transcript is None:
            return None
        segments = transcript.segments
        text = (transcript.text or " ".join(s.text for s in segments)).strip()
        if not text:
            return None
        emotions, matched = self.emotions(text)
        seg_out = []
        for i, s in enumerate(segments):
            t = s.text.strip()
            if not t:
                continue
            seg_emotions, _ = self.emotions(t)
            seg_out.append(
                WordSegment(
                    segment=i,
                    start=s.start,
                    end=s.end,
                    valence=self.valence(t),
                    top_emotion=max(seg_emotions, key=seg_emotions.get) if seg_emotions else None,
                )
            )
        return WordsCues(
            valence=self.valence(text),
            emotions=emotions,
            emotion_words=matched,
            top_emotion=max(emotions, key=emotions.get) if emotions else None,
            segments=seg_out,
        )
