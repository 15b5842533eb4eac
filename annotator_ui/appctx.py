"""What every page of the review app shares: the run, its store and queue, the reviewer, access.

Heavy objects (the DuckDB queue, the SQLite store) are built once per app process and shared by
all browser sessions (``st.cache_resource``); both are safe across Streamlit's session threads.
Per-session state (filters, the reviewer's name, the position in the queue) lives in
``st.session_state``; the reviewer's name and the open sample are mirrored in the URL so a
reload or a shared link lands on the same place.
"""

from __future__ import annotations

import hmac
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import fsspec
import streamlit as st

from emodata import layout
from emodata.review.media import SampleMedia, load_sample
from emodata.review.queue import Filters, ReviewQueue
from emodata.review.serve import ENV_DIR, ENV_STORE, ENV_TOKEN
from emodata.review.store import ReviewStore, store_path

PAGES = {"queue": "views/queue.py", "sample": "views/sample.py", "agreement": "views/agreement.py"}


@dataclass(frozen=True)
class Run:
    out_dir: str
    store_file: str


def run_location() -> Run:
    """The run folder: ``streamlit run app.py -- DIR`` or ``EMODATA_REVIEW_DIR``."""
    argv_dir = sys.argv[1] if Path(sys.argv[0]).name == "app.py" and len(sys.argv) > 1 else None
    out_dir = argv_dir or os.environ.get(ENV_DIR)
    if not out_dir:
        st.error("No run folder: start the app with `emodata review DIR`.")
        st.stop()
    return Run(out_dir, str(store_path(out_dir, os.environ.get(ENV_STORE) or None)))


@st.cache_resource(show_spinner=False)
def _resources(out_dir: str, store_file: str) -> tuple[ReviewStore, ReviewQueue]:
    store = ReviewStore(store_file)
    return store, ReviewQueue(out_dir, store)


def store() -> ReviewStore:
    run = run_location()
    return _resources(run.out_dir, run.store_file)[0]


def queue() -> ReviewQueue:
    run = run_location()
    return _resources(run.out_dir, run.store_file)[1]


@st.cache_data(show_spinner=False, max_entries=64)
def sample_media(out_dir: str, row: dict) -> SampleMedia:
    return load_sample(out_dir, row)


@st.cache_data(show_spinner=False, ttl=600)
def filter_options(out_dir: str) -> dict[str, list[str]]:
    return queue().options()


@st.cache_data(show_spinner=False)
def taxonomy(out_dir: str) -> list[str]:
    """The run's configured emotion labels (manifest ``config.annotate.taxonomy``), if any."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    path = f"{root.rstrip('/')}/{layout.MANIFEST}"
    if not fs.exists(path):
        return []
    with fs.open(path, "r") as f:
        config = json.load(f).get("config") or {}
    return sorted((config.get("annotate") or {}).get("taxonomy") or {})


def authorised() -> bool:
    """Whether this session may see data: the app has no token, or the session gave it."""
    return not os.environ.get(ENV_TOKEN) or bool(st.session_state.get("authorised"))


def check_access() -> None:
    """Ask for the access token when the app was started with one; stop until it matches."""
    token = os.environ.get(ENV_TOKEN)
    if not token or authorised():
        return
    st.title("emodata review")
    given = st.text_input("Access token", type="password", key="token_input")
    if given and hmac.compare_digest(given.encode(), token.encode()):
        st.session_state["authorised"] = True
        st.rerun()
    if given:
        st.error("Wrong token.")
    st.stop()


def reviewer() -> str:
    """The reviewer's name from the sidebar (kept in the URL as ``?reviewer=``)."""
    if "reviewer" not in st.session_state:
        st.session_state["reviewer"] = st.query_params.get("reviewer", "")
    name = st.sidebar.text_input("Reviewer", key="reviewer", placeholder="your name").strip()
    if name and st.query_params.get("reviewer") != name:
        st.query_params["reviewer"] = name
    return name


def filters() -> Filters:
    return st.session_state.setdefault("filters", Filters())


def flash(kind: str, text: str) -> None:
    """A message shown once, on the next page the session renders."""
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("flash", []):
        getattr(st, kind)(text)


def open_sample(key: str, position: int | None) -> None:
    st.session_state["position"] = position
    params = {"key": key}
    if st.session_state.get("reviewer"):
        params["reviewer"] = st.session_state["reviewer"]
    st.switch_page(PAGES["sample"], query_params=params)
