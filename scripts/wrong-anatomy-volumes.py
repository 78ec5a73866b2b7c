#!/usr/bin/env python3
"""Diagnostic (not a test): what a scan of the wrong anatomy looks like through SSS weights.
`make IN_DIR OUT_DIR N` writes the first N brain-CT phantoms of IN_DIR (`imagesTs/`, else
`imagesTr/`) with MRI-like intensities (air 0, bone 40, the rest 3 x clamp(HU + 40, 0, 150):
positive arbitrary units, so the page and `guess_modality` take them for MRI); `volumes FILE...`
prints each label map's voxels, millilitres and slices per class. RESULTS.md, "A scan that does
not fit the weights", ran:

    scripts/wrong-anatomy-volumes.py make /tmp/unseen-ct /tmp/ood 6
    for f in /tmp/ood/mri-*.nii.gz /tmp/unseen/patient08[0-3]/*_frame01.nii.gz; do
      sss segment $f --weights web/assets/weights/sss-cardiac.json -o /tmp/ood/seg-$(basename $f); done
    scripts/wrong-anatomy-volumes.py volumes /tmp/ood/seg-*.nii.gz

Needs numpy (tests/parity/make_fixtures.sh makes that environment); reads and writes
little-endian NIfTI-1 only (what `sss phantom` and `sss segment` write)."""
import glob
import gzip
import os
import struct
import sys

import numpy as np

DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 512: np.uint16}


def read(path):
    raw = gzip.open(path).read()
    dims = struct.unpack("<8h", raw[40:56])
    dtype = DTYPES[struct.unpack("<h", raw[70:72])[0]]
    offset = int(struct.unpack("<f", raw[108:112])[0])
    slope, inter = struct.unpack("<ff", raw[112:120])
    n = dims[1] * dims[2] * dims[3]
    data = np.frombuffer(raw[offset:offset + n * np.dtype(dtype).itemsize], dtype=dtype)
    data = data.astype(np.float64)
    if slope not in (0.0, 1.0):
        data = data * slope + inter
    spacing = struct.unpack("<3f", raw[80:92])
    return data.reshape(dims[3], dims[2], dims[1]), bytearray(raw[:348]), spacing


def write_f32(path, header, data):
    h = bytearray(header)
    h[70:74] = struct.pack("<hh", 16, 32)
    h[108:112] = struct.pack("<f", 352.0)
    h[112:120] = struct.pack("<ff", 1.0, 0.0)
    with gzip.open(path, "wb") as f:
        f.write(bytes(h) + b"\0" * 4 + data.astype("<f4").tobytes())


def make(in_dir, out_dir, n):
    images = sorted(glob.glob(os.path.join(in_dir, "imagesTs", "*.nii.gz")))
    images = images or sorted(glob.glob(os.path.join(in_dir, "imagesTr", "*.nii.gz")))
    os.makedirs(out_dir, exist_ok=True)
    for path in images[:n]:
        hu, header, _ = read(path)
        mri = np.where(hu < -200, 0.0, np.where(hu > 300, 40.0, np.clip(hu + 40, 0, 150) * 3.0))
        write_f32(os.path.join(out_dir, "mri-" + os.path.basename(path)), header, mri)
    print(f"{len(images[:n])} scans written to {out_dir}")


def volumes(paths):
    for path in paths:
        labels, _, spacing = read(path)
        ml = float(np.prod(spacing)) / 1000.0
        parts = []
        for c in sorted(int(v) for v in np.unique(labels) if v > 0):
            mask = labels == c
            slices = int((mask.sum(axis=(1, 2)) > 0).sum())
            parts.append(f"{c}: {int(mask.sum())} vox {mask.sum() * ml:.1f} ml {slices} slices")
        print(f"{os.path.basename(path)}: " + "; ".join(parts or ["empty"]))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 2 and sys.argv[1] == "volumes":
        volumes(sys.argv[2:])
    else:
        sys.exit(__doc__)
