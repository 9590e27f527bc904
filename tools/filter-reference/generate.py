#!/usr/bin/env python3
"""Reference outputs of OpenCV's filters on a real photograph, for
tests/kernels_filter.rs: a 96×128 crop of scikit-image's `coins` (a greyscale
photograph shipped in its wheel) as PNG, and OpenCV's results on it as
little-endian f32 files.

    python3 -m pip install opencv-python-headless==5.1.0.95 scikit-image==0.26.0
    python3 tools/filter-reference/generate.py tests/data/filters
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
crop = data.coins()[100:196, 120:248]
cv2.imwrite(str(out / "coins.png"), crop)
x = crop.astype(np.float32) / 255.0
R101 = cv2.BORDER_REFLECT_101
results = {
    "gaussian_sigma2": cv2.GaussianBlur(x, (13, 13), 2.0, borderType=R101),
    "sobel_magnitude": np.sqrt(
        cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3, borderType=R101) ** 2
        + cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3, borderType=R101) ** 2
    ),
    "laplacian": cv2.Laplacian(x, cv2.CV_32F, ksize=1, borderType=R101),
    "median5": cv2.medianBlur(x, 5),
    "erode3": cv2.erode(x, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE),
    "dilate3": cv2.dilate(x, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE),
}
for name, y in results.items():
    y.astype("<f4").tofile(out / f"{name}.f32")
level, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
meta = {
    "shape": list(crop.shape),
    "opencv": cv2.__version__,
    "otsu_level_u8": float(level),
    "outputs": sorted(results),
}
(out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
print(json.dumps(meta))
