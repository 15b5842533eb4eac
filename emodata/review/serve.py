"""``emodata review``: start the Streamlit app on a run, safely by default.

The app binds to loopback unless told otherwise. Anything beyond loopback must carry an access
token (``--token`` or ``EMODATA_REVIEW_TOKEN``), which the app asks for before showing data;
the token travels to the app process in its environment, never on its command line where other
local users could read it. The CLI process becomes the server (``exec``), so stopping it stops
the app and leaves no orphan behind.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path

from emodata.review import require_streamlit
from emodata.review.store import ReviewStore, store_path

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent.parent
# a source checkout keeps the app next to the package; a wheel ships it inside it
APP = next(
    (
        p
        for p in (_HERE.parent / "annotator_ui" / "app.py", _HERE / "_annotator_ui" / "app.py")
        if p.exists()
    ),
    _HERE.parent / "annotator_ui" / "app.py",
)
ENV_DIR, ENV_TOKEN, ENV_STORE = "EMODATA_REVIEW_DIR", "EMODATA_REVIEW_TOKEN", "EMODATA_REVIEW_STORE"


class ServeError(RuntimeError):
    """The app cannot be started as asked."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def command(out_dir: str, host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--", out_dir,
    ]  # fmt: skip


def prepare(
    out_dir: str, host: str, port: int, token: str | None, store: str | None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the app process, after every check."""
    if not is_loopback(host) and not token:
        raise ServeError(
            f"serving on {host} (beyond loopback) needs an access token: "
            "pass --token or set EMODATA_REVIEW_TOKEN"
        )
    require_streamlit()
    if not APP.exists():
        raise ServeError(f"the review app is missing at {APP}: reinstall emodata")
    index = Path(out_dir.removeprefix("file://")) / "index"
    if "://" not in out_dir and not index.is_dir():
        raise ServeError(f"{out_dir} has no index/: is it a run's output folder?")
    path = store_path(out_dir, store)
    ReviewStore(path).close()  # create it now: a bad location fails here, not in the browser
    env = {**os.environ, ENV_DIR: out_dir, ENV_STORE: str(path)}
    env.pop(ENV_TOKEN, None)
    if token:
        env[ENV_TOKEN] = token
    return command(out_dir, host, port), env


def serve(
    out_dir: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8501,
    token: str | None = None,
    store: str | None = None,
) -> int:
    """Replace this process with the Streamlit server (signals then reach it directly)."""
    cmd, env = prepare(out_dir, host, port, token, store)
    log.info("review app on http://%s:%d (store %s)", host, port, env[ENV_STORE])
    logging.shutdown()
    os.execve(cmd[0], cmd, env)
    return 0  # not reached: execve only returns by raising
