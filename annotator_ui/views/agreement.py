"""Agreement page: kappa between reviewers, overall, per label and per pair; throughput."""

from __future__ import annotations

import appctx
import pandas as pd
import streamlit as st

from emodata.review.agreement import agreement_report, throughput


def _model_labels(keys: list[str]) -> dict[str, str | None]:
    labels: dict[str, str | None] = {}
    q = appctx.queue()
    for key in keys:
        row = q.row(key)
        labels[key] = row.get("emotion_label") if row else None
    return labels


@st.cache_data(show_spinner=False)
def _report(store_file: str, last_id: int) -> tuple[dict, list[dict]]:
    """Recomputed only when a new decision arrived (``last_id`` changes)."""
    decisions = appctx.store().all()
    labels = _model_labels(sorted({d.sample_key for d in decisions}))
    return agreement_report(decisions, labels), throughput(decisions)


def render() -> None:
    st.title("Agreement and throughput")
    store = appctx.store()
    report, rates = _report(str(store.path), store.latest_id())
    if not rates:
        st.info("No decisions yet.")
        return
    a, b, c = st.columns(3)
    kappa = report["fleiss"]
    a.metric("Fleiss' kappa", "n/a" if kappa is None else f"{kappa:.3f}")
    b.metric("Samples with 2+ reviewers", report["items_multi"])
    c.metric("Reviewed samples", report["items"])
    st.subheader("Per label (Fleiss' per-category kappa)")
    st.dataframe(pd.DataFrame(report["per_label"]), hide_index=True, key="per_label")
    st.subheader("Reviewer pairs (Cohen's kappa)")
    if report["pairs"]:
        st.dataframe(pd.DataFrame(report["pairs"]), hide_index=True, key="pairs")
    else:
        st.caption("Only one reviewer so far.")
    st.subheader("Throughput")
    st.dataframe(pd.DataFrame(rates), hide_index=True, key="throughput")
    st.caption("per_hour counts active time only: gaps over 5 minutes are breaks.")


render()
