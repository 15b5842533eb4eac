"""The read-only panels of the sample page: clip, faces, transcript, cue charts, tree, history.

Each panel takes plain data from :mod:`emodata.review.sample` and says plainly when its part is
missing (no audio, no transcript, no faces, not annotated) instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from emodata.cues.face import LABELS
from emodata.review import sample as sv
from emodata.review.decisions import latest_by_reviewer
from emodata.review.media import SampleMedia, data_url
from emodata.review.plain import md
from emodata.review.store import Decision


def clip(media: SampleMedia) -> None:
    if media.mp4:
        st.video(data_url(media.mp4, "video/mp4"))
    else:
        st.info("No clip in this sample.")


def faces(media: SampleMedia) -> None:
    st.subheader("Aligned faces")
    tracks, main = sv.face_tracks(media.doc)
    if not media.faces:
        st.caption("No face crops (no face was found, or the faces stage did not run).")
        return
    names = list(media.faces)
    crops = [data_url(media.faces[n], "image/jpeg") for n in names]
    st.image(crops, width=96, caption=[md(n) for n in names])
    if tracks:
        st.caption(f"{len(tracks)} track(s); main subject: track {md(main)}")


def transcript(media: SampleMedia) -> None:
    st.subheader("Transcript")
    text = sv.transcript_text(media.doc)
    words = sv.transcript_words(media.doc)
    if not text and not words:
        st.caption("No transcript (no speech, no audio, or the transcribe stage did not run).")
        return
    st.markdown(f"> {md(text)}")
    if words:
        st.dataframe(pd.DataFrame(words), hide_index=True, height=180, key="words")


def cue_charts(media: SampleMedia) -> None:
    st.subheader("Cues over time")
    expr = sv.expression_series(media.doc)
    if expr:
        st.caption("Expression scores of the main face track")
        st.line_chart(pd.DataFrame(expr), x="t", y=list(LABELS), height=220)
    else:
        st.caption("No expression scores (no face track).")
    audio = sv.audio_series(media.wav)
    if audio:
        frame = pd.DataFrame(audio)
        left, right = st.columns(2)
        with left:
            st.caption("Loudness, dBFS per 100 ms")
            st.line_chart(frame, x="t", y="loudness_db", height=180)
        with right:
            st.caption("Pitch, Hz (gaps: unvoiced)")
            st.line_chart(frame, x="t", y="pitch_hz", height=180)
    else:
        st.caption("No audio.")


def _cue_text(cues: dict[str, Any], ids: list[str]) -> str:
    return md("; ".join(f"{c}: {(cues.get(c) or {}).get('text', '?')}" for c in ids))


def tree(summary: dict[str, Any], annotated: bool) -> None:
    st.subheader("Affective tree")
    if not annotated:
        st.caption("Not annotated: the annotate stage did not run or did not finish for it.")
        return
    a, b, c, d = st.columns(4)
    a.metric("Label", md(summary["label"] or "-"))
    b.metric("Valence", "-" if summary["valence"] is None else f"{summary['valence']:+.2f}")
    c.metric("Arousal", "-" if summary["arousal"] is None else f"{summary['arousal']:+.2f}")
    conf = summary["confidence"]
    d.metric("Confidence", "-" if conf is None else f"{conf:.2f}")
    if summary["terms"]:
        st.caption("Terms: " + ", ".join(md(t) for t in summary["terms"]))
    st.markdown(f"**Caption.** {md(summary['caption'] or '(none)')}")
    st.markdown("**Rationale**")
    for r in summary["rationale"]:
        st.markdown(f"- {md(r.get('claim', ''))}")
        st.caption(_cue_text(summary["cues"], r.get("cues") or []))
    st.markdown("**QA**")
    for qa in summary["qa"]:
        st.markdown(
            f"- *{md(qa.get('kind', ''))}*: {md(qa.get('question', ''))}  \n"
            f"  → {md(qa.get('answer', ''))}"
        )
    verdict = summary["verdict"] or "-"
    reasons = summary["reasons"]
    box = st.error if verdict == "rejected" else st.warning if verdict == "revised" else st.success
    box(f"Critic: **{md(verdict)}**" + "".join(f"  \n{md(r)}" for r in reasons))
    with st.expander("Attributes, expressions and cue catalog"):
        if summary["attributes"]:
            st.dataframe(pd.DataFrame(summary["attributes"]), hide_index=True, key="attrs")
        if summary["expressions"]:
            st.dataframe(pd.DataFrame(summary["expressions"]), hide_index=True, key="exprs")
        st.json(summary["cues"], expanded=False)


def history(decisions: list[Decision], status: str, newer_than: int, me: str) -> None:
    st.subheader("Decisions on this sample")
    if status == "conflict":
        st.warning(
            "Reviewers disagree on this sample. Every decision is kept; the release resolves "
            "them by majority (a keep/reject tie stays out until someone breaks it)."
        )
    fresh = [d for d in decisions if d.id > newer_than and d.reviewer != me]
    if fresh:
        st.info(
            "Since you opened this sample: "
            + "; ".join(f"{md(d.reviewer)} chose {md(d.decision)}" for d in fresh)
        )
    if not decisions:
        st.caption("None yet.")
        return
    latest = latest_by_reviewer(decisions)
    st.markdown(
        "Latest per reviewer: "
        + "; ".join(
            f"**{md(d.reviewer)}** {md(d.decision)}"
            + (f" ({md(', '.join(sorted(d.edits)))})" if d.edits else "")
            + (f" ({md(d.reason)})" if d.reason else "")
            for d in latest
        )
    )
    rows = [
        {
            "id": d.id,
            "reviewer": d.reviewer,
            "time": d.decided_at[:19].replace("T", " "),
            "decision": d.decision,
            "reason": d.reason or "",
            "edits": json.dumps(d.edits, ensure_ascii=False) if d.edits else "",
            "conflicts with": ", ".join(map(str, d.conflicts)),
        }
        for d in decisions
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="history")
