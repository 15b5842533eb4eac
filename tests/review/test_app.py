"""The review app's logic through Streamlit's AppTest: filters, actions, conflicts, access."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from emodata import stats
from emodata.review.media import load_sample
from emodata.review.store import ReviewStore, store_path
from tests.conftest import ROOT

APP = str(ROOT / "annotator_ui" / "app.py")


@pytest.fixture
def app(run_dir, monkeypatch):
    monkeypatch.setenv("EMODATA_REVIEW_DIR", str(run_dir))
    monkeypatch.delenv("EMODATA_REVIEW_TOKEN", raising=False)
    monkeypatch.delenv("EMODATA_REVIEW_STORE", raising=False)

    def make(reviewer: str | None = "alice") -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        if reviewer:
            at.sidebar.text_input(key="reviewer").input(reviewer).run()
        return at

    return make


def _rows(run_dir, where: str = "true") -> list[dict]:
    return stats.query(str(run_dir), f"select * from idx where {where} order by key")


def _open(at: AppTest, key: str) -> AppTest:
    at.query_params["key"] = key
    at.switch_page("views/sample.py").run()
    assert not at.exception, at.exception
    return at


def _submit(key: str) -> str:
    """The AppTest key of the correction form's submit button."""
    return f"FormSubmitter:correct:{key}-Save correction"


def _store(run_dir) -> ReviewStore:
    return ReviewStore(store_path(str(run_dir)))


def test_queue_filters(app, run_dir):
    at = app()
    assert at.metric[0].value == "60"
    table = at.dataframe[0].value
    assert list(table["key"]) == [r["key"] for r in _rows(run_dir)][:50]
    at.sidebar.multiselect(key="f_labels").select("happy").run()
    want = [r["key"] for r in _rows(run_dir, "emotion_label = 'happy'")]
    assert at.metric[0].value == str(len(want))
    assert list(at.dataframe[0].value["key"]) == want
    at.sidebar.multiselect(key="f_labels").unselect("happy").run()
    word = next(r["asr_text"].split()[0] for r in _rows(run_dir) if r["asr_text"])
    at.sidebar.text_input(key="f_text").input(word).run()
    assert int(at.metric[0].value) == len(
        [r for r in _rows(run_dir) if word in (r["asr_text"] or "") + (r["caption"] or "")]
    )


def test_queue_status_filter_and_paging(app, run_dir):
    keys = [r["key"] for r in _rows(run_dir)]
    _store(run_dir).submit(keys[0], "bob", "reject", reason="blurry", sample_version="v")
    at = app()
    at.sidebar.multiselect(key="f_statuses").select("rejected").run()
    assert list(at.dataframe[0].value["key"]) == [keys[0]]
    assert list(at.dataframe[0].value["status"]) == ["rejected"]
    at.sidebar.multiselect(key="f_statuses").unselect("rejected").run()
    at.sidebar.selectbox(key="page_size").select(25).run()
    at.number_input(key="page_no").set_value(3).run()
    assert list(at.dataframe[0].value["key"]) == keys[50:]


def test_accept_records_a_row_and_moves_on(app, run_dir):
    keys = [r["key"] for r in _rows(run_dir)]
    at = _open(app(), keys[0])
    assert at.title[0].value == f"Sample {keys[0][:12]}"
    at.button(key="accept").click().run()
    assert not at.exception, at.exception
    (d,) = _store(run_dir).all()
    assert (d.sample_key, d.reviewer, d.decision) == (keys[0], "alice", "accept")
    assert d.sample_version == load_sample(str(run_dir), _rows(run_dir)[0]).version
    assert at.title[0].value == f"Sample {keys[1][:12]}"  # the next sample of the queue
    assert any("Saved: accept" in s.value for s in at.success)


def test_reject_needs_a_reviewer_and_a_reason(app, run_dir):
    keys = [r["key"] for r in _rows(run_dir)]
    at = _open(app(reviewer=None), keys[2])
    assert at.button(key="reject").disabled and at.button(key="accept").disabled
    at.sidebar.text_input(key="reviewer").input("bob").run()
    at.selectbox(key=f"why:{keys[2]}").select("other").run()
    at.button(key="reject").click().run()
    assert any("Say why" in e.value for e in at.error)
    assert _store(run_dir).count() == 0
    at.text_input(key=f"detail:{keys[2]}").input("a dubbed clip").run()
    at.button(key="reject").click().run()
    (d,) = _store(run_dir).all()
    assert (d.decision, d.reason, d.reviewer) == ("reject", "other: a dubbed clip", "bob")


def test_correction_stores_only_changed_fields(app, run_dir):
    row = _rows(run_dir, "emotion_label is not null and emotion_label != 'sad'")[0]
    key = row["key"]
    at = _open(app(), key)
    # the label choices are the run's configured taxonomy (manifest), "contempt" included
    taxonomy = json.loads((run_dir / "manifest.json").read_text())["config"]["annotate"]["taxonomy"]
    assert set(taxonomy) <= set(at.selectbox(key=f"label:{key}").options)
    at.button(key=_submit(key)).click().run()
    assert any("Nothing was changed" in i.value for i in at.info)
    # form widgets send their values with the submit, in the same run
    at.selectbox(key=f"label:{key}").select("sad")
    at.text_area(key=f"caption:{key}").input("A sad face, reviewed.")
    at.text_input(key=f"qa1:{key}").input("sad")
    at.button(key=_submit(key)).click().run()
    assert not at.exception, at.exception
    (d,) = _store(run_dir).all()
    assert d.decision == "correct"
    want = {"label": "sad", "caption": "A sad face, reviewed."}
    if row["emotion_label"] != "sad":
        want["qa"] = {"1": "sad"}
    assert d.edits == want


def test_concurrent_edit_is_kept_and_shown_as_conflict(app, run_dir):
    row = _rows(run_dir, "emotion_label is not null")[0]
    key = row["key"]
    at = _open(app(), key)  # alice opens the sample
    other = _store(run_dir).submit(
        key, "bob", "correct", sample_version="v", edits={"label": "fear", "caption": "bob's"}
    )
    at.button(key="accept").click().run()  # alice accepts what she saw
    rows = _store(run_dir).history(key)
    assert [d.reviewer for d in rows] == ["bob", "alice"]
    assert rows[1].conflicts == [other.id]
    assert any("decided by someone else" in w.value for w in at.warning)
    at = _open(at, key)
    assert any("Reviewers disagree" in w.value for w in at.warning)
    history = at.dataframe[-1].value  # the decisions table is the page's last table
    assert list(history["reviewer"]) == ["bob", "alice"]


def test_samples_missing_parts_render(app, run_dir):
    bare = _rows(run_dir, "asr_text is null and face_tracks is null")
    unannotated = _rows(run_dir, "emotion_label is null")
    assert bare and unannotated
    at = _open(app(), bare[0]["key"])
    captions = " ".join(c.value for c in at.caption)
    assert "No transcript" in captions and "No face crops" in captions
    at = _open(at, unannotated[0]["key"])
    assert "Not annotated" in " ".join(c.value for c in at.caption)
    key = unannotated[0]["key"]
    at.selectbox(key=f"label:{key}").select("neutral")
    at.number_input(key=f"Valence:{key}").set_value(0.25)
    at.button(key=_submit(key)).click().run()
    (d,) = _store(run_dir).all()
    assert d.edits == {"label": "neutral", "valence": 0.25}


def test_agreement_page(app, run_dir):
    keys = [r["key"] for r in _rows(run_dir, "emotion_label is not null")][:3]
    s = _store(run_dir)
    for k in keys:
        s.submit(k, "alice", "accept", sample_version="v")
        s.submit(k, "bob", "accept", sample_version="v")
    at = app()
    at.switch_page("views/agreement.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Samples with 2+ reviewers"] == "3"
    per_label, pairs, rates = (t.value for t in at.dataframe)
    assert pairs["shared"].tolist() == [3]
    assert pairs["cohen_kappa"].tolist() == [1.0]
    assert set(rates["reviewer"]) == {"alice", "bob"}
    assert per_label["ratings"].sum() == 6


def test_access_token_gate(app, run_dir, monkeypatch):
    monkeypatch.setenv("EMODATA_REVIEW_TOKEN", "s3cret")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.dataframe and not at.metric
    at.text_input(key="token_input").input("nope").run()
    assert any("Wrong token" in e.value for e in at.error)
    assert not at.dataframe
    at.text_input(key="token_input").input("s3cret").run()
    assert at.metric[0].value == "60"


def test_no_run_folder(monkeypatch):
    monkeypatch.delenv("EMODATA_REVIEW_DIR", raising=False)
    monkeypatch.delenv("EMODATA_REVIEW_TOKEN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert any("emodata review DIR" in e.value for e in at.error)
