"""Build a static (QDQ) int8 twin of an fp32 ONNX evaluator, for measuring the lever of issue #37.

The shipped ONNX ``int8`` quantizes weights only; optimum's dynamic int8 also quantizes
activations, per batch, and fails the export gate (80 % agreement). The usual fix is static
quantization: activation ranges calibrated offline on real inputs, weights per channel, int8 GEMMs
with VNNI. This script builds it with onnxruntime's ``quantize_static`` (QDQ format, u8
activations × s8 weights, the VNNI-friendly pair), calibrating on the first ``--texts`` texts of a
labelled file encoded exactly as the evaluator encodes them. It then prints the argmax agreement
of the label logits with fp32 on ``--check`` other texts, the gate ``export`` applies (≥ 98 %).

    clave-lite export models/default -o onnx-fp32 --format onnx --quant none
    python benchmarks/onnx_static_int8.py onnx-fp32 fulcra-fit.jsonl -o onnx-qdq --texts 16 --check 20
    clave-lite eval fulcra-dev.jsonl --limit 40 --compare default.gguf --compare onnx-fp32 --compare onnx-qdq

Not a product path: ``export --format onnx`` offers it only if it passes the gate and is faster.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from clave_lite.core.blockmask import pack
from clave_lite.core.prompt import PromptEncoder
from clave_lite.core.tuples import read_tuples
from clave_lite.formats.manifest import Manifest
from clave_lite.runtime.backends.onnx import INPUT_NAMES, ONNXBackend


class Feeds(CalibrationDataReader):
    """One evaluator input (a text and all its values' suffixes) per calibration step."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def encoded_feeds(backend: ONNXBackend, manifest: Manifest, texts: list[str]) -> list[dict[str, np.ndarray]]:
    encoder = PromptEncoder(manifest.template, backend.tokenize)
    system = manifest.system(None)
    pairs = [(v.name, v.definition) for v in system.values]
    out = []
    for text in texts:
        enc = encoder.encode(text, pairs)
        out.append(dict(zip(INPUT_NAMES, pack([(enc.shared, enc.suffixes)], 0))))
    return out


def matmuls_to_keep_fp32(model_path: Path, keep_last: int, patterns: list[str]) -> list[str]:
    """The last ``keep_last`` MatMul nodes (the label read-out end of the graph), and those whose name
    contains one of ``patterns`` (e.g. ``down_proj``, whose inputs carry the largest activation
    outliers in transformer MLPs), stay fp32."""
    model = onnx.load(str(model_path), load_external_data=False)
    names = [n.name for n in model.graph.node if n.op_type == "MatMul"]
    kept = names[-keep_last:] if keep_last else []
    return kept + [n for n in names if any(p in n for p in patterns) and n not in kept]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="an fp32 ONNX evaluator directory (export --quant none)")
    ap.add_argument("data", type=Path, help="labelled tuples; its texts calibrate and check")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--texts", type=int, default=16, help="calibration texts")
    ap.add_argument("--check", type=int, default=20, help="texts to compare with fp32 (after the calibration ones)")
    ap.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax")
    ap.add_argument("--keep-fp32", type=int, default=1, help="last MatMul nodes left unquantized")
    ap.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--keep-pattern", action="append", default=[],
                    help="also leave MatMuls whose node name contains this unquantized (repeatable)")
    args = ap.parse_args()
    if args.output.exists():
        sys.exit(f"error: {args.output} exists; choose another -o")

    tuples, _ = read_tuples(args.data, None, "stop")
    texts = list(dict.fromkeys(t.text for t in tuples))[: args.texts + args.check]
    fp32 = ONNXBackend(args.source)
    manifest = Manifest.from_json((args.source / "manifest.json").read_text(), str(args.source))
    feeds = encoded_feeds(fp32, manifest, texts)
    calib, check = feeds[: args.texts], feeds[args.texts:]

    args.output.mkdir(parents=True)
    started = time.perf_counter()
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[args.method]
    quantize_static(str(args.source / "model.onnx"), str(args.output / "model.onnx"), Feeds(calib),
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"], per_channel=args.per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=method,
                    nodes_to_exclude=matmuls_to_keep_fp32(args.source / "model.onnx", args.keep_fp32,
                                                          args.keep_pattern),
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    build_s = time.perf_counter() - started
    for name in ("manifest.json", "vocab.gguf"):
        shutil.copy2(args.source / name, args.output / name)
    qdq = ONNXBackend(args.output)

    agree = total = 0
    seconds = {"fp32": 0.0, "qdq": 0.0}
    max_diff = 0.0
    for feed in check:
        outs = {}
        for name, backend in (("fp32", fp32), ("qdq", qdq)):
            t0 = time.perf_counter()
            outs[name] = backend.session.run(None, feed)[0]
            seconds[name] += time.perf_counter() - t0
        agree += int((outs["fp32"].argmax(1) == outs["qdq"].argmax(1)).sum())
        total += len(outs["fp32"])
        max_diff = max(max_diff, float(np.abs(outs["fp32"] - outs["qdq"]).max()))
    report = {"source": str(args.source), "output": str(args.output), "calibration_texts": len(calib),
              "method": args.method, "per_channel": args.per_channel, "kept_fp32_matmuls": args.keep_fp32,
              "kept_patterns": args.keep_pattern,
              "build_seconds": round(build_s, 1), "check_texts": len(check), "decisions": total,
              "argmax_agreement": round(agree / max(total, 1), 4), "max_abs_logit_diff": round(max_diff, 3),
              "seconds": {k: round(v, 2) for k, v in seconds.items()},
              "speed_vs_fp32": round(seconds["fp32"] / max(seconds["qdq"], 1e-9), 3),
              "gate_98pct": agree / max(total, 1) >= 0.98}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
