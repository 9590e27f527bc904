#!/usr/bin/env python3
"""Reference outputs of two real pretrained CNNs, from the reference runtime.

The PP-OCR text-direction classifier (a MobileNetV3 with squeeze-and-excitation
and hard-swish) and the PP-OCRv4 text detector (a DB network: a MobileNetV3
backbone, an FPN with nearest Resize, transposed convolutions), both shipped as
ONNX in the `rapidocr_onnxruntime` wheel on PyPI, are run by ONNX Runtime on
text lines written with MNIST digits. Inputs and outputs are written as
TensorProto files beside the test that compares weft with them:

    python3 -m venv /tmp/ocr && /tmp/ocr/bin/pip install onnx onnxruntime numpy
    /tmp/ocr/bin/python tools/ocr-reference/generate.py \\
        --models "$(tools/ocr-models)" --mnist DIR crates/onnx/tests/data/pp-ocr
"""
import argparse
import gzip
import hashlib
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

CLS = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
DET = "ch_PP-OCRv4_det_infer.onnx"


def mnist_digits(path, count, seed):
    with gzip.open(os.path.join(path, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    return images[rng.choice(len(images), count, replace=False)]


def text_line(digits, height, width, scale):
    """Dark digits on a light page, left to right, as a uint8 RGB image."""
    page = np.full((height, width), 235, np.float32)
    size = 28 * scale
    y0 = (height - size) // 2
    for i, d in enumerate(digits):
        x0 = 4 + i * (size - 4 * scale)
        if x0 + size > width:
            break
        glyph = np.kron(d.astype(np.float32), np.ones((scale, scale), np.float32))
        page[y0:y0 + size, x0:x0 + size] -= glyph * (200.0 / 255.0)
    rgb = np.stack([page, page * 0.97, page * 0.94], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def cls_input(lines):
    # rapidocr's classifier preprocessing: [0, 1], then (x - 0.5) / 0.5, CHW.
    x = np.stack([line.astype(np.float32) / 255.0 for line in lines])
    return ((x - 0.5) / 0.5).transpose(0, 3, 1, 2).copy()


def det_input(image):
    # rapidocr's detector preprocessing: ImageNet mean and std, CHW.
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    x = (image.astype(np.float32) / 255.0 - mean) / std
    return x.transpose(2, 0, 1)[None].copy()


def write(case_dir, x, y):
    os.makedirs(case_dir, exist_ok=True)
    for name, a in (("input_0.pb", x), ("output_0.pb", y)):
        with open(os.path.join(case_dir, name), "wb") as f:
            f.write(numpy_helper.from_array(a.astype(np.float32)).SerializeToString())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True, help="directory holding the two .onnx files")
    ap.add_argument("--mnist", required=True, help="directory of MNIST's gzipped IDX files")
    ap.add_argument("out")
    args = ap.parse_args()

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    run = lambda model, x: ort.InferenceSession(
        os.path.join(args.models, model), opts, providers=["CPUExecutionProvider"]
    ).run(None, {"x": x})[0]

    digits = mnist_digits(args.mnist, 14, seed=7)
    upright = text_line(digits[:7], 48, 192, 1)
    flipped = upright[::-1, ::-1].copy()
    rng = np.random.default_rng(11)
    noise = rng.integers(0, 256, (48, 192, 3), dtype=np.uint8)
    x = cls_input([upright, flipped, noise])
    write(os.path.join(args.out, "cls"), x, run(CLS, x))

    page = text_line(digits[7:], 96, 192, 2)
    x = det_input(page)
    write(os.path.join(args.out, "det"), x, run(DET, x))

    sums = {}
    for m in (CLS, DET):
        with open(os.path.join(args.models, m), "rb") as f:
            sums[m] = hashlib.sha256(f.read()).hexdigest()
    meta = {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "models_sha256": sums}
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
