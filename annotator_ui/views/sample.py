"""Sample page: watch the clip, check transcript, faces, cues and the tree; decide."""

from __future__ import annotations

import actions
import appctx
import panels
import streamlit as st

from emodata import layout
from emodata.review import sample as sv
from emodata.review.plain import md


def _current_key() -> str | None:
    key = st.query_params.get("key") or st.session_state.get("current_key")
    if key:
        return key
    first = appctx.queue().key_at(appctx.filters(), 0)
    st.session_state["position"] = 0
    return first


def render() -> None:
    appctx.show_flash()
    key = _current_key()
    if key is None:
        st.info("The queue is empty: change the filters on the Queue page.")
        return
    q = appctx.queue()
    row = q.row(key)
    if row is None:
        st.error(f"No sample {md(key)} in this run.")
        return
    st.session_state["current_key"] = key
    if st.query_params.get("key") != key:
        st.query_params["key"] = key
    run = appctx.run_location()
    try:
        media = appctx.sample_media(run.out_dir, row)
    except layout.UnsafePath:
        st.error(
            f"Sample {md(key)} is not shown: its index row names the shard {md(row['shard'])}, "
            "which leads outside the run's shards/ folder. The index is damaged or was edited; "
            "`emodata verify` lists such rows."
        )
        return
    except OSError as e:
        st.error(f"Cannot read sample {md(key)} from {md(row['shard'])}: {md(e)}")
        return
    base = actions.base_id(key)
    tree = sv.annotation(media.doc)
    summary = sv.tree_summary(tree)
    status = q.status(key)
    st.title(f"Sample {md(key[:12])}")
    st.caption(
        f"{md(row.get('source_dataset') or 'no dataset')}"
        f" · {md(row.get('license') or 'licence unknown')} · {row['duration_s']:.2f} s"
        f" · shard {md(row['shard'])} · status **{md(status)}** · version {md(media.version)}"
    )
    left, right = st.columns([5, 6], gap="large")
    with left:
        panels.clip(media)
        panels.faces(media)
        panels.transcript(media)
    with right:
        panels.tree(summary, tree is not None)
    panels.cue_charts(media)
    decisions = appctx.store().history(key)
    panels.history(decisions, status, base, st.session_state.get("reviewer", "").strip())
    actions.render(key, media, summary)


render()
