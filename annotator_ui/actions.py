"""The sample page's actions: accept, reject with a reason, correct fields; then the next sample.

A decision is built from the widgets, checked and appended to the store by
:meth:`emodata.review.store.ReviewStore.submit` with the sample's version and the newest
decision this session had seen on it (``base``), so a concurrent decision by someone else comes
back as a conflict to show, not an overwrite. A per-sample ``uid`` makes a double click or a
resubmitted form land once.
"""

from __future__ import annotations

import uuid
from typing import Any

import appctx
import streamlit as st

from emodata.cues.face import LABELS
from emodata.review import sample as sv
from emodata.review.media import SampleMedia
from emodata.review.plain import md
from emodata.review.queue import NONE
from emodata.review.store import Decision, ReviewError

REJECT_REASONS = ("wrong emotion", "wrong or no person", "unusable clip", "private or unsafe",
                  "other")  # fmt: skip


def base_id(key: str) -> int:
    """The newest decision on ``key`` when this session first showed it."""
    name = f"base:{key}"
    if name not in st.session_state:
        st.session_state[name] = appctx.store().latest_id(key)
    return int(st.session_state[name])


def _uid(key: str) -> str:
    return st.session_state.setdefault(f"uid:{key}", uuid.uuid4().hex)


def submit(key: str, media: SampleMedia, kind: str, reviewer: str, **kw: Any) -> Decision | None:
    """Record one decision; on success move on to the next sample in the queue."""
    try:
        d = appctx.store().submit(
            key, reviewer, kind, sample_version=media.version, base_id=base_id(key),
            uid=_uid(key), **kw,
        )  # fmt: skip
    except ReviewError as e:
        st.error(md(e))
        return None
    st.session_state.pop(f"uid:{key}", None)
    st.session_state[f"base:{key}"] = d.id
    appctx.flash(
        "success", f"Saved: {md(d.decision)} on {md(key[:12])} by {md(d.reviewer)} (#{d.id})."
    )
    if d.conflicts:
        appctx.flash(
            "warning",
            f"Sample {md(key[:12])} was decided by someone else while you had it open "
            f"(decision(s) {', '.join(map(str, d.conflicts))}). Both decisions are kept; "
            "reopen it to see them.",
        )
    go_next(key)
    return d


def go_next(key: str, step: int = 1) -> None:
    """Open the following (or, with ``step=-1``, previous) sample of the current queue."""
    q = appctx.queue()
    f = appctx.filters()
    pos = st.session_state.get("position") or 0
    if step < 0:
        prev = max(0, pos - 1)
        target = q.key_at(f, prev)
        nxt = (target, prev)
    else:
        nxt = q.next_key(f, pos, key)
    if nxt[0] is None:
        appctx.flash("info", "End of the queue.")
        st.switch_page(appctx.PAGES["queue"])
    appctx.open_sample(nxt[0], nxt[1])


def _label_choices(current: str | None) -> list[str]:
    """The run's taxonomy (FER's seven labels when it has none), labels in use, the current one."""
    out_dir = appctx.run_location().out_dir
    used = [v for v in appctx.filter_options(out_dir)["labels"] if v != NONE]
    configured = appctx.taxonomy(out_dir) or list(LABELS)
    return sorted(set(configured) | set(used) | ({current} if current else set()))


def _dimension(name: str, value: float | None, key: str) -> float | None:
    if value is None:  # not annotated: empty until the reviewer sets it
        return st.number_input(name, -1.0, 1.0, value=None, step=0.05, key=f"{name}:{key}")
    return st.slider(name, -1.0, 1.0, float(value), 0.05, key=f"{name}:{key}")


def correction_form(key: str, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The correction form; returns the edited fields when submitted, else None."""
    with st.form(f"correct:{key}", border=True):
        st.markdown("**Correct**")
        choices = _label_choices(summary["label"])
        label = st.selectbox(
            "Label", choices, index=choices.index(summary["label"]) if summary["label"] else None,
            key=f"label:{key}", placeholder="choose a label",
        )  # fmt: skip
        valence = _dimension("Valence", summary["valence"], key)
        arousal = _dimension("Arousal", summary["arousal"], key)
        caption = st.text_area("Caption", summary["caption"], key=f"caption:{key}", height=80)
        rationale = [
            {**r, "claim": st.text_input(f"Claim {i + 1}", r.get("claim", ""), key=f"rat{i}:{key}")}
            for i, r in enumerate(summary["rationale"])
        ]  # fmt: skip
        answers = [
            st.text_input(md(qa.get("question", f"Q{i + 1}")), qa.get("answer", ""),
                          key=f"qa{i}:{key}")
            for i, qa in enumerate(summary["qa"])
        ]  # fmt: skip
        saved = st.form_submit_button("Save correction", type="primary", shortcut="Ctrl+Enter")
    if not saved:
        return None
    edited = {"label": label, "valence": valence, "arousal": arousal, "caption": caption,
              "rationale": rationale, "qa_answers": answers}  # fmt: skip
    return sv.diff_edits(summary, edited)


def render(key: str, media: SampleMedia, summary: dict[str, Any]) -> None:
    st.subheader("Your decision")
    reviewer = st.session_state.get("reviewer", "").strip()
    if not reviewer:
        st.warning("Enter your name under Reviewer (sidebar) to record decisions.")
    a, b, c = st.columns([1, 1, 1])
    if a.button("Accept", type="primary", shortcut="A", key="accept", disabled=not reviewer):
        submit(key, media, "accept", reviewer)
    if b.button("Previous", shortcut="P", key="prev"):
        go_next(key, -1)
    if c.button("Next", shortcut="N", key="next"):
        go_next(key)
    with st.container(border=True):
        why = st.selectbox("Reject because", REJECT_REASONS, key=f"why:{key}")
        detail = st.text_input("Details", key=f"detail:{key}", placeholder="optional")
        if st.button("Reject", shortcut="X", key="reject", disabled=not reviewer):
            if why == "other" and not detail.strip():
                st.error("Say why in Details.")
            else:
                reason = why + (f": {detail.strip()}" if detail.strip() else "")
                submit(key, media, "reject", reviewer, reason=reason)
    edits = correction_form(key, summary)
    if edits is not None:
        if not reviewer:
            st.error("Enter your name under Reviewer (sidebar) first.")
        elif not edits:
            st.info("Nothing was changed: use Accept to keep the sample as it is.")
        else:
            submit(key, media, "correct", reviewer, edits=edits)
