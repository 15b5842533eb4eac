"""Queue page: filter, sort and page through the index; pick a sample to review."""

from __future__ import annotations

import appctx
import pandas as pd
import streamlit as st

from emodata.review.decisions import STATUSES
from emodata.review.queue import SORTS, Filters

PAGE_SIZES = (25, 50, 100, 200)
SHOWN = ["key", "status", "reviewers", "emotion_label", "emotion_confidence", "critic_verdict",
         "source_dataset", "duration_s", "caption", "asr_text"]  # fmt: skip


def _filter_widgets(options: dict[str, list[str]]) -> Filters:
    side = st.sidebar
    side.subheader("Filters")
    text = side.text_input("Search transcript and caption", key="f_text")
    labels = side.multiselect("Emotion label", options["labels"], key="f_labels")
    verdicts = side.multiselect("Critic verdict", options["verdicts"], key="f_verdicts")
    statuses = side.multiselect("Review status", list(STATUSES), key="f_statuses")
    datasets = side.multiselect("Source dataset", options["datasets"], key="f_datasets")
    use_conf = side.checkbox("Filter by confidence", key="f_use_conf")
    conf = side.slider(
        "Confidence", 0.0, 1.0, (0.0, 1.0), 0.05, key="f_conf", disabled=not use_conf
    )
    sort = side.selectbox("Sort by", list(SORTS), key="f_sort")
    desc = side.toggle("Descending", key="f_desc")
    return Filters(
        labels=labels,
        verdicts=verdicts,
        statuses=statuses,
        datasets=datasets,
        confidence=tuple(conf) if use_conf else None,
        text=text,
        sort=sort,
        descending=desc,
    )


def render() -> None:
    q = appctx.queue()
    run = appctx.run_location()
    appctx.show_flash()
    f = _filter_widgets(appctx.filter_options(run.out_dir))
    if f != st.session_state.get("filters"):
        st.session_state["filters"] = f
        st.session_state["page_no"] = 1  # new filters: back to the first page
    size = st.sidebar.selectbox("Rows per page", PAGE_SIZES, index=1, key="page_size")
    total = q.total(f)
    pages = max(1, -(-total // size))
    # set before the widget exists: clamps a page number left over from a longer queue
    st.session_state["page_no"] = min(max(1, int(st.session_state.get("page_no", 1))), pages)
    page_no = st.session_state["page_no"]
    rows = q.rows(f, (page_no - 1) * size, size)
    st.title("Review queue")
    left, mid, right = st.columns([2, 2, 3])
    left.metric("Matching samples", f"{total:,}")
    mid.metric("Page", f"{page_no} / {pages}")
    with right:
        st.number_input("Go to page", 1, pages, key="page_no")
        if st.button("Review from the top of this page", type="primary", shortcut="S",
                     disabled=not rows, key="start_review"):  # fmt: skip
            appctx.open_sample(rows[0]["key"], (page_no - 1) * size)
    frame = pd.DataFrame(rows, columns=SHOWN)
    event = st.dataframe(
        frame,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="queue_table",
        column_config={
            "key": st.column_config.TextColumn("key", width="small"),
            "emotion_confidence": st.column_config.ProgressColumn(
                "confidence", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "caption": st.column_config.TextColumn("caption", width="large"),
        },
    )
    chosen = event.selection.rows if event is not None else []
    if chosen:
        i = chosen[0]
        appctx.open_sample(rows[i]["key"], (page_no - 1) * size + i)
    st.caption(
        "Select a row to open it (S opens the first). On a sample: A accept, X reject, "
        "Ctrl+Enter save a correction, N next, P previous."
    )


render()
