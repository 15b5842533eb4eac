"""Items 11 and 13 of issue 13: what the review app shows and serves, in a real browser.

Before the fix (11): strings from data, a URL or a reviewer reached Streamlit's Markdown as
they were: ``/sample?key=![i](http://x/b.png) [clickme](https://...)`` put an image beacon and a
phishing link in the error box; a reviewer named ``eve ![i](...) [support](...)`` showed up as
live Markdown in other reviewers' "since you opened this sample" notice; emotion terms, cue
texts and the "Saved:" message were unescaped too. (13): the clip and face crops were served
under Streamlit's ``/media/<hash>.mp4``, and that URL answered without the access token to
anyone who had it, for as long as some session showed the sample.

The app here serves a run whose first sample carries an image and a link (pointing at a tiny
local HTTP server that records every request) in its key, transcript, caption, terms, cue
texts, QA question and dataset name, behind an access token.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from emodata import stats
from emodata.records import Item
from emodata.review.media import load_sample
from emodata.review.plain import WORD_JOINER, md
from emodata.review.synth import SynthSpec, make_run
from tests.review.test_browser import browser_ready, node, start_app, stop_app

TOKEN = "hostile-test-token"


class Beacon:
    """A stdlib HTTP server on 127.0.0.1 that records every path requested from it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Requests are recorded in ``paths``; nothing to print."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def payload(port: int, word: str = "clickme") -> str:
    return f"![i](http://127.0.0.1:{port}/beacon.png) [{word}](http://127.0.0.1:{port}/phish)"


def plant(bad: str):
    """``make_run`` edit: the first sample carries ``bad`` in every text a reviewer reads."""

    def edit(i: int, item: Item) -> Item:
        if i != 0:
            return item
        rec = item.record
        rec.transcript.text = f"words {bad}"
        tree = rec.annotation
        tree.caption = f"caption {bad}"
        tree.emotion.terms.append(f"term {bad}")
        for cue in tree.cues.values():
            cue["text"] = f"cue {bad}"
        tree.qa[0].question = f"question {bad}"
        rec.source.meta["source_dataset"] = f"set {bad}"
        return Item(bad, rec, item.blobs)

    return edit


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, beacon) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "run"
    make_run(str(out), SynthSpec(samples=6, shard_samples=6), edit=plant(payload(beacon.port)))
    return out


@pytest.fixture(scope="module")
def browsed(hostile_run, beacon, tmp_path_factory) -> Iterator[dict]:
    """The app behind a token, the browser session of the module docstring, and the app's URL."""
    browser_ready()
    proc, base = start_app(hostile_run, tmp_path_factory.mktemp("logs"), "--token", TOKEN)
    try:
        args = {
            "base": base,
            "token": TOKEN,
            "beacon": f"127.0.0.1:{beacon.port}",
            "key": payload(beacon.port),
            "missingKey": f"nokey {payload(beacon.port)}",
            "eve": f"eve {payload(beacon.port, 'support')}",
        }
        out = node("hostile_review.mjs", json.dumps(args))
        out["base"] = base
        yield out
    finally:
        stop_app(proc)


MARKUP = ("<a ", "<img", "<h1", "<ol", "<ul", "<em", "<strong", "<code", "<blockquote", "<hr")


@pytest.mark.parametrize(
    "bad",
    [
        "![i](http://h/b.png) [x](http://h/p)",
        "<img src=http://h/b.png> <a href=http://h/p>x</a> &lt;",
        "# title\n\n- item *em* __strong__ `code` a\\b [ref]\n\n[ref]: http://h/p",
        "1. one\n\n> quote | table |\n\n---",
        "<http://h/p> <a@h.org> www.h.org http://h.org/p a@h.org",
    ],
)
def test_escaped_text_renders_as_written(bad):
    """A CommonMark renderer (markdown-it, raw HTML on) finds markup in the text and none in
    ``md(text)``, which renders to the very same words."""
    renderer = MarkdownIt("commonmark", {"html": True})
    assert [m for m in MARKUP if m in renderer.render(bad)]
    html = renderer.render(md(bad))
    assert [m for m in MARKUP if m in html] == [], html
    text = unescape(re.sub(r"</?p>", "", html)).replace(WORD_JOINER, "")
    assert text.split() == bad.split()


@pytest.mark.slow
def test_injected_markdown_stays_text_in_the_browser(browsed, beacon):
    assert beacon.paths == [], f"the browser fetched injected URLs: {beacon.paths}"
    assert not [u for u in browsed["requests"] if f":{beacon.port}/" in u]
    pages = {name: {**page, "text": page["text"].replace(WORD_JOINER, "")}
             for name, page in browsed["pages"].items()}  # fmt: skip
    for name, page in pages.items():
        assert page["pointing"] == [], (name, page["pointing"])
        assert not [a for a in page["links"] if urlsplit(a).port == beacon.port], name
        assert not [i for i in page["images"] if urlsplit(i).port == beacon.port], name
    shown = f"[clickme](http://127.0.0.1:{beacon.port}/phish)"
    sample = pages["sample"]["text"]
    for where in ("words", "caption", "term", "cue", "question", "set"):
        assert f"{where} ![i](" in sample and shown in sample, where
    assert (
        f"nokey ![i](http://127.0.0.1:{beacon.port}/beacon.png) {shown}"
        in (pages["missing"]["text"])
    )
    eve = f"eve ![i](http://127.0.0.1:{beacon.port}/beacon.png) [support]("
    assert f"by {eve}" in pages["saved"]["text"]
    assert f"Since you opened this sample: {eve}" in pages["since"]["text"]


@pytest.mark.slow
def test_media_travel_only_inside_the_authorised_page(browsed, hostile_run, beacon):
    video = browsed["video"]
    assert video["error"] is None and video["readyState"] >= 2 and video["duration"] > 0.5
    assert video["src"].startswith("data:video/mp4;base64,")
    assert not [u for u in browsed["requests"] if urlsplit(u).path.startswith("/media/")]
    # the URL Streamlit would have given the clip and a face crop (its content hash, computed
    # with Streamlit's own function) answers 404, token or not
    row = stats.query(str(hostile_run), "select * from idx order by key limit 1")[0]
    media = load_sample(str(hostile_run), row)
    assert media.mp4 and media.faces
    for data, mime, ext in [(media.mp4, "video/mp4", "mp4"),
                            (next(iter(media.faces.values())), "image/jpeg", "jpg")]:  # fmt: skip
        url = f"{browsed['base']}/media/{_calculate_file_id(data, mime)}.{ext}"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 404, url
