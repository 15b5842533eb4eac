"""The annotator review app: ``emodata review DIR`` runs this with Streamlit.

This file only wires things up (path, access check, reviewer, navigation); each page lives in
``views/`` and every decision goes through :mod:`emodata.review`. The folder is deliberately not
named ``pages/``: Streamlit would expose such files as pages of their own, past the access check.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):  # appctx next to us; emodata from a source checkout
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import appctx  # noqa: E402
import streamlit as st  # noqa: E402

st.set_page_config(page_title="emodata review", layout="wide")
# pages are declared before the access check, so a link to a sample (/sample?key=...) is still
# the page shown once the token is entered; until then the navigation stays hidden
nav = st.navigation(
    [
        st.Page(appctx.PAGES["queue"], title="Queue", url_path="queue", default=True),
        st.Page(appctx.PAGES["sample"], title="Sample", url_path="sample"),
        st.Page(appctx.PAGES["agreement"], title="Agreement", url_path="agreement"),
    ],
    position="sidebar" if appctx.authorised() else "hidden",
)
appctx.check_access()
run = appctx.run_location()
st.sidebar.caption(f"Run: `{run.out_dir}`  \nStore: `{run.store_file}`")
appctx.reviewer()
nav.run()
