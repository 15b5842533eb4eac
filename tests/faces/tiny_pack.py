"""A tiny insightface model pack built here with onnx, with the ONNX signatures of buffalo's
models (SCRFD: one image input, 9 outputs of scores, boxes and 5-point landmarks for strides
8/16/32; recognition: 112x112 -> 512), so insightface's router, SCRFD decoding, alignment and
ArcFace code run for real. The weights are made up: the detections prove the code path, not
face detection quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _scrfd(path: Path) -> None:
    rng = np.random.default_rng(0)
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])
    nodes, inits, outs = [], [], {"score": [], "bbox": [], "kps": []}
    for s in (8, 16, 32):
        pooled = f"pool{s}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [pooled], kernel_shape=[s, s], strides=[s, s]
            )
        )
        for kind, ch, last in (("score", 2, 1), ("bbox", 8, 4), ("kps", 20, 10)):
            if kind == "score":  # bright areas score high: a few detections, deterministic
                w = np.full((ch, 3, 1, 1), 2.0, np.float32)
                b = np.full((ch,), -4.0, np.float32)
            else:
                w = rng.normal(0, 0.3, (ch, 3, 1, 1)).astype(np.float32)
                b = np.full((ch,), 1.0, np.float32)
            inits += [
                numpy_helper.from_array(w, f"w_{kind}{s}"),
                numpy_helper.from_array(b, f"b_{kind}{s}"),
                numpy_helper.from_array(np.array([-1, last], np.int64), f"shape_{kind}{s}"),
            ]
            conv, act, tr, out = f"c_{kind}{s}", f"a_{kind}{s}", f"t_{kind}{s}", f"{kind}_{s}"
            nodes.append(helper.make_node("Conv", [pooled, f"w_{kind}{s}", f"b_{kind}{s}"], [conv]))
            nodes.append(helper.make_node("Sigmoid" if kind == "score" else "Relu", [conv], [act]))
            nodes.append(helper.make_node("Transpose", [act], [tr], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [tr, f"shape_{kind}{s}"], [out]))
            outs[kind].append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["n", last]))
    graph = helper.make_graph(
        nodes, "scrfd_tiny", [inp], outs["score"] + outs["bbox"] + outs["kps"], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _arcface(path: Path) -> None:
    rng = np.random.default_rng(1)
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.01, (3 * 16 * 16, 512)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(512, np.float32), "b"),
    ]
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["p"], kernel_shape=[7, 7], strides=[7, 7]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "b"], ["683"]),
    ]
    graph = helper.make_graph(nodes, "arcface_tiny", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def build(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _scrfd(root / "det_tiny.onnx")
    _arcface(root / "w600k_tiny.onnx")
    return root
