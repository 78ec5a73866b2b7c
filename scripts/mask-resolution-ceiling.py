#!/usr/bin/env python3
"""Diagnostic (not a test): the Dice a label map keeps when represented at R x R, as SAM-2's
masks and the coarse head are at a quarter of the model input. Each slice's one-hot ground
truth is area-downsampled to R x R, brought back bilinearly and arg-maxed; per-class Dice over
every label volume under DIR (ACDC layout `*/*_gt.nii.gz`, or BHSD `labels*/*.nii.gz`), mean
over the volumes where the class is present.

Usage: .venv-parity/bin/python scripts/mask-resolution-ceiling.py DIR R [R ...]
(needs numpy and torch: tests/parity/make_fixtures.sh makes that environment)."""
import glob
import gzip
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {2: np.uint8, 4: np.int16, 16: np.float32, 64: np.float64, 512: np.uint16}


def read_labels(path):
    """The label volume [z, y, x] of a NIfTI-1 file (the phantoms' own simple layout)."""
    raw = gzip.open(path).read()
    dims = struct.unpack('<8h', raw[40:56])
    dtype = np.dtype(DTYPES[struct.unpack('<h', raw[70:72])[0]])
    offset = int(struct.unpack('<f', raw[108:112])[0])
    n = dims[1] * dims[2] * dims[3]
    data = np.frombuffer(raw[offset:offset + n * dtype.itemsize], dtype=dtype)
    return data.reshape(dims[3], dims[2], dims[1]).round().astype(np.int64)


def main():
    root, sizes = sys.argv[1], [int(r) for r in sys.argv[2:]]
    paths = sorted(glob.glob(f'{root}/*/*_gt.nii.gz')) or sorted(glob.glob(f'{root}/labels*/*.nii.gz'))
    volumes = [torch.from_numpy(read_labels(p)) for p in paths]
    classes = int(max(v.max() for v in volumes)) + 1
    for size in sizes:
        dice = {c: [] for c in range(1, classes)}
        for gt in volumes:
            one_hot = F.one_hot(gt, classes).permute(0, 3, 1, 2).float()
            low = F.interpolate(one_hot, size=(size, size), mode='area')
            back = F.interpolate(low, size=gt.shape[1:], mode='bilinear', align_corners=False)
            pred = back.argmax(1)
            for c in dice:
                a, b = pred == c, gt == c
                if not b.any():
                    continue
                dice[c].append(2 * (a & b).sum().item() / max(1, a.sum().item() + b.sum().item()))
        per_class = [float(np.mean(d)) for d in dice.values()]
        print(f'{size}x{size}: Dice per class {[round(d, 3) for d in per_class]}, '
              f'mean {np.mean(per_class):.3f} ({len(volumes)} volumes)')


if __name__ == '__main__':
    main()
