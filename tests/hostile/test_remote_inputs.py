"""Items 7 and 4: remote inputs that never answer, stall, or change.

Before (7): an HTTP input whose server accepts the connection and never answers hung the driver
in ingest for minutes with no message; ``probe_timeout_s`` did not cover downloads.
Before (4): remote inputs were cached by URL forever in a shared ``/tmp/emodata-inputs/``
(mode 0755): an object whose content changed was ingested as its old content, even into a new
output folder.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from emodata.errors import ItemError, Reason
from emodata.remote import cache_dir, local_path
from tests.conftest import run_cli
from tests.hostile.conftest import QUICK, make_clips


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Each test's own input cache (inherited by the CLI and its Ray workers)."""
    monkeypatch.setenv("EMODATA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "emodata-inputs"


class _Counting(SimpleHTTPRequestHandler):
    gets: list[str]

    def do_GET(self) -> None:
        self.gets.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """Factory: serve a folder over HTTP (stdlib); returns (base URL, list of GET paths)."""
    servers = []

    def start(folder: Path) -> tuple[str, list[str]]:
        gets: list[str] = []
        handler = type("Handler", (_Counting,), {"gets": gets})
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", gets

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


@pytest.fixture
def stalling() -> Iterator[str]:
    """A server that answers HEAD, then sends half of a GET's body and goes quiet."""
    stop = threading.Event()

    class Stall(BaseHTTPRequestHandler):
        def _head(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.send_header("Last-Modified", "Sun, 29 Nov 2026 10:00:00 GMT")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._head()

        def do_GET(self) -> None:
            self._head()
            self.wfile.write(b"\0" * 50_000)
            self.wfile.flush()
            stop.wait(120)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop.set()
    server.shutdown()
    server.server_close()


def _timeout_of(url: str, timeout_s: float) -> tuple[ItemError, float]:
    t0 = time.monotonic()
    with pytest.raises(ItemError) as err:
        local_path(url, timeout_s)
    return err.value, time.monotonic() - t0


def test_a_silent_server_is_a_remote_timeout(silent):
    err, took = _timeout_of(f"{silent}/a.mp4", 1.0)
    assert err.reason == Reason.REMOTE_TIMEOUT and took < 10
    assert err.message == (
        f"asking about {silent}/a.mp4: no answer within 1s (ingest.remote_timeout_s)"
    )


def test_a_body_that_stalls_is_a_remote_timeout_and_leaves_no_part(stalling, private_cache):
    err, took = _timeout_of(f"{stalling}/a.mp4", 1.0)
    assert err.reason == Reason.REMOTE_TIMEOUT and took < 10
    assert err.message.startswith(f"downloading {stalling}/a.mp4: no answer within 1s")
    assert [p.name for p in private_cache.iterdir()] == ["by-content", "by-url"]
    assert list((private_cache / "by-content").iterdir()) == []


def test_the_cache_is_private_and_follows_the_object_version(tmp_path, serve, private_cache):
    www = tmp_path / "www"
    www.mkdir()
    (www / "v.mp4").write_bytes(b"A" * 1000)
    base, gets = serve(www)
    first = Path(local_path(f"{base}/v.mp4"))
    assert first.read_bytes() == b"A" * 1000
    assert stat.S_IMODE(cache_dir().stat().st_mode) == 0o700
    assert Path(local_path(f"{base}/v.mp4")) == first and gets == ["/v.mp4"]  # unchanged: cached
    # new content of the same size, saved later: its Last-Modified moves on
    (www / "v.mp4").write_bytes(b"B" * 1000)
    later = time.time() + 10
    os.utime(www / "v.mp4", (later, later))
    assert Path(local_path(f"{base}/v.mp4")).read_bytes() == b"B" * 1000
    # after ingest, a clip asks for the content ingest hashed: a change since is refused
    old = hashlib.sha256(b"A" * 1000).hexdigest()
    (first).unlink()
    with pytest.raises(ItemError, match="changed since it was ingested"):
        local_path(f"{base}/v.mp4", sha256=old)


def test_a_world_readable_cache_is_made_private(private_cache):
    (private_cache / "by-content").mkdir(parents=True)
    os.chmod(private_cache, 0o755)
    assert stat.S_IMODE(cache_dir().stat().st_mode) == 0o700


@pytest.mark.slow
def test_a_run_ledgers_dead_inputs_and_ingests_changed_content(tmp_path, serve, silent, stalling):
    src = make_clips(tmp_path / "src", 2)
    www = tmp_path / "www"
    www.mkdir()
    (www / "v.mp4").write_bytes((src / "clip_300.mp4").read_bytes())
    base, _ = serve(www)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path\n{silent}/a.mp4\n{stalling}/b.mp4\n{base}/v.mp4\n")
    quick = [*QUICK, "--set", "ingest.remote_timeout_s=2"]
    t0 = time.monotonic()
    res = run_cli("run", "--input", str(manifest), "--output", str(tmp_path / "o1"), *quick)
    assert time.monotonic() - t0 < 180
    assert "3 inputs, 1 clips written" in res.stdout
    assert "ingest/remote_timeout=2" in res.stdout
    # the object changes (new content, saved later); a run into a new folder ingests it
    (www / "v.mp4").write_bytes((src / "clip_337.mp4").read_bytes())
    later = time.time() + 10
    os.utime(www / "v.mp4", (later, later))
    manifest.write_text(f"path\n{base}/v.mp4\n")
    run_cli("run", "--input", str(manifest), "--output", str(tmp_path / "o2"), *quick)
    shas = {}
    for out in ("o1", "o2"):
        idx = str(tmp_path / out / "index" / "*.parquet")
        ((shas[out],),) = duckdb.sql(f"select source_sha256 from '{idx}'").fetchall()
    assert shas == {
        "o1": hashlib.sha256((src / "clip_300.mp4").read_bytes()).hexdigest(),
        "o2": hashlib.sha256((src / "clip_337.mp4").read_bytes()).hexdigest(),
    }
