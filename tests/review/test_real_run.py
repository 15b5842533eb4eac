"""The review tools on a real pipeline run (real clips, transcripts, faces, cues; no annotations).

The shared demo run is read-only: decisions go to a store in this test's own folder.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from emodata import stats
from emodata.exports.webdataset import prune
from emodata.review import sample as sv
from emodata.review.export import export
from emodata.review.media import load_sample
from emodata.review.queue import NONE, Filters, ReviewQueue
from emodata.review.store import ReviewStore
from tests.conftest import ROOT


@pytest.mark.slow
def test_review_and_export_a_real_run(demo_run, tmp_path, monkeypatch):
    rows = stats.query(str(demo_run), "select * from idx order by key")
    assert rows, "the demo run wrote clips"
    store = ReviewStore(tmp_path / "decisions.sqlite")
    queue = ReviewQueue(str(demo_run), store)
    assert queue.total(Filters(labels=[NONE])) == len(rows)  # nothing is annotated

    talking = next((r for r in rows if r["asr_text"]), rows[0])
    media = load_sample(str(demo_run), talking)
    assert media.mp4[4:8] == b"ftyp"
    if talking["asr_text"]:
        assert sv.transcript_words(media.doc)
    assert sv.annotation(media.doc) is None

    monkeypatch.setenv("EMODATA_REVIEW_DIR", str(demo_run))
    monkeypatch.setenv("EMODATA_REVIEW_STORE", str(store.path))
    monkeypatch.delenv("EMODATA_REVIEW_TOKEN", raising=False)
    at = AppTest.from_file(str(ROOT / "annotator_ui" / "app.py"), default_timeout=60)
    at.run()
    at.sidebar.text_input(key="reviewer").input("alice").run()
    at.query_params["key"] = talking["key"]
    at.switch_page("views/sample.py").run()
    assert not at.exception, at.exception
    assert "Not annotated" in " ".join(c.value for c in at.caption)
    at.selectbox(key=f"label:{talking['key']}").select("happy")
    at.button(key=f"FormSubmitter:correct:{talking['key']}-Save correction").click().run()
    assert not at.exception, at.exception
    store.submit(rows[-1]["key"], "bob", "reject", reason="unusable clip", sample_version="v")

    release = tmp_path / "release"
    result = export(str(demo_run), str(release), store=str(store.path))
    assert result.counts["exported"] == len(rows) - (rows[-1]["key"] != talking["key"])
    out = {r["key"]: r for r in stats.query(str(release), "select * from idx")}
    assert out[talking["key"]]["emotion_label"] == "happy"
    if rows[-1]["key"] != talking["key"]:
        assert rows[-1]["key"] not in out
    doc = load_sample(str(release), out[talking["key"]]).doc
    assert doc["release"]["review"]["corrected"] == {"label": "happy"}
    assert doc["release"]["review"]["original"] == {"label": None}
    # release JSON leaves out nulls and empty lists or objects (Hugging Face infers one type)
    assert doc["transcript"] == prune(media.doc["transcript"])
