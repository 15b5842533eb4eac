"""Faces on this machine: frames per second of detection + landmarks + alignment + expression
per backend, on real photos (insightface's t1.jpg with 6 faces, scikit-image's astronaut), and
the faces found on t1.

    .venv/bin/python benchmarks/faces.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from emodata.cues.face import ExpressionModel, crop_for_expression
from emodata.faces.base import align
from emodata.faces.dlib_backend import DlibBackend


def t1() -> np.ndarray:
    root = Path(next(iter(importlib.util.find_spec("insightface").submodule_search_locations)))
    return cv2.cvtColor(cv2.imread(str(root / "data/images/t1.jpg")), cv2.COLOR_BGR2RGB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    expression = ExpressionModel()
    expression.load()
    images = {
        "t1 1280x886": t1(),
        "astronaut 512x512": data.astronaut(),
        "t1 640x443": cv2.resize(t1(), (640, 443)),
    }
    print(
        f"{'backend':8} {'image':18} {'faces':>5} {'ms/frame':>9} {'frames/s':>8}  (detect + "
        "landmarks + embedding + align + expression)"
    )
    for upsample in (0, 1):
        backend = DlibBackend(upsample=upsample)
        backend.load()
        for name, img in images.items():
            grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            faces = []
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                faces = backend.detect(img)
                for f in faces:
                    align(img, f.kps)
                    expression.scores(crop_for_expression(grey, f.box))
            ms = (time.perf_counter() - t0) / args.repeat * 1000
            print(
                f"{'dlib/up' + str(upsample):8} {name:18} {len(faces):5d} {ms:9.1f} "
                f"{1000 / ms:8.2f}"
            )
    insightface_path(images["t1 1280x886"], args.repeat)


def insightface_path(img: np.ndarray, repeat: int) -> None:
    """insightface's code path on a tiny pack with buffalo's ONNX signatures. Its detections
    are made up, so this times the code around the models (and tiny models), not buffalo."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from emodata.faces.insightface_backend import InsightFaceBackend
    from tests.faces.tiny_pack import build

    backend = InsightFaceBackend(str(build(Path(tempfile.mkdtemp()) / "tiny")), det_size=640)
    backend.load()
    t0 = time.perf_counter()
    for _ in range(repeat):
        for f in backend.detect(img):
            align(img, f.kps)
    ms = (time.perf_counter() - t0) / repeat * 1000
    print(
        f"insightface, tiny made-up pack, {backend.providers[0]}, t1 1280x886: "
        f"{ms:.1f} ms/frame ({1000 / ms:.2f} frames/s)"
    )


if __name__ == "__main__":
    main()
