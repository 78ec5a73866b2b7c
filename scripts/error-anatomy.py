#!/usr/bin/env python3
"""Diagnostic (not a test): where a segmenter's errors lie, over label maps and their ground
truth. Prints, summed over all the pairs given:

1. the voxel confusion matrix (rows: truth, columns: prediction) with each class's recall;
2. the foreground voxels missed (truth a class, prediction background), split by how far, in
   the slice, they lie from the predicted foreground: next to it (1 voxel, 8-neighbourhood:
   the boundary), 2 voxels away, farther (a tail or a separate part left out), or on a slice
   where nothing is drawn at all (the object lost along z);
3. the same split for false foreground (prediction a class, truth background);
4. the foreground on slices where nothing is drawn, by distance in z to the nearest slice where
   something is, and, when a third map is given (PRED:TRUTH:OTHER, e.g. the coarse head's),
   how much of it that map draws as foreground.

Reads NIfTI-1 label maps (.nii or .nii.gz; u8, i16, i32, u16, f32, f64) with the standard
library only. Slices are along the third axis.

Usage: scripts/error-anatomy.py [--names a,b,...] PRED:TRUTH[:OTHER] [PRED:TRUTH[:OTHER] ...]
Example (the page's brain-CT weights on the validation scans, RESULTS.md):
  for i in $(seq 145 160); do sss segment --weights web/assets/weights/sss-brain-ct.json \\
    -o /tmp/seg/ID_$i.nii.gz results/data/brain-200/imagesTr/ID_$i.nii.gz; done
  scripts/error-anatomy.py --names none,EDH,IPH,IVH,SAH,SDH $(for i in $(seq 145 160); do \\
    echo /tmp/seg/ID_$i.nii.gz:results/data/brain-200/labelsTr/ID_$i.nii.gz; done)"""
import array
import collections
import gzip
import struct
import sys

TYPECODES = {2: 'B', 4: 'h', 8: 'i', 16: 'f', 64: 'd', 512: 'H'}


def read_labels(path):
    """(labels as ints, x fastest; [nx, ny, nz]) of a NIfTI-1 file."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    if struct.unpack('<i', raw[0:4])[0] != 348:
        sys.exit(f'{path}: not a little-endian NIfTI-1 file')
    dims = struct.unpack('<8h', raw[40:56])
    datatype = struct.unpack('<h', raw[70:72])[0]
    if datatype not in TYPECODES:
        sys.exit(f'{path}: datatype {datatype} is not a label type this script reads')
    offset = int(struct.unpack('<f', raw[108:112])[0])
    slope, inter = struct.unpack('<ff', raw[112:120])
    shape = [max(1, d) for d in dims[1:4]]
    count = shape[0] * shape[1] * shape[2]
    data = array.array(TYPECODES[datatype])
    data.frombytes(raw[offset:offset + count * data.itemsize])
    if slope not in (0.0, 1.0) or inter != 0.0:
        return [round(v * (slope or 1.0) + inter) for v in data], shape
    return [round(v) for v in data], shape


def distance_split(missing, other, nx, ny):
    """Counts of `missing` voxels (a set of in-slice indices) at distance 1, 2, > 2 (Chebyshev)
    from the set `other`, or [0, 0, 0, len(missing)] when `other` is empty."""
    if not other:
        return [0, 0, 0, len(missing)]
    counts = [0, 0, 0, 0]
    for k in missing:
        x, y = k % nx, k // nx
        near = None
        for r in (1, 2):
            if any(0 <= x + dx < nx and 0 <= y + dy < ny and (y + dy) * nx + x + dx in other
                   for dy in range(-r, r + 1) for dx in range(-r, r + 1)):
                near = r
                break
        counts[near - 1 if near else 2] += 1
    return counts


def main():
    args = sys.argv[1:]
    names = None
    if args[:1] == ['--names']:
        names, args = args[1].split(','), args[2:]
    if not args:
        sys.exit(__doc__)
    confusion = collections.Counter()
    missed, false_fg = [0, 0, 0, 0], [0, 0, 0, 0]
    undrawn_by_dz, other_hits = collections.Counter(), 0
    for pair in args:
        paths = pair.split(':')
        pred, shape = read_labels(paths[0])
        truth, truth_shape = read_labels(paths[1])
        other, other_shape = read_labels(paths[2]) if len(paths) > 2 else (None, shape)
        if shape != truth_shape or shape != other_shape:
            sys.exit(f'{pair}: the maps differ in size ({shape}, {truth_shape}, {other_shape})')
        confusion.update(zip(truth, pred))
        nx, ny, nz = shape
        plane = nx * ny
        drawn = [any(v > 0 for v in pred[z * plane:(z + 1) * plane]) for z in range(nz)]
        for z in (z for z in range(nz) if not drawn[z]):
            t = truth[z * plane:(z + 1) * plane]
            fg = [k for k, v in enumerate(t) if v > 0]
            if fg:
                dz = min((abs(z - k) for k in range(nz) if drawn[k]), default=None)
                undrawn_by_dz[dz] += len(fg)
                if other is not None:
                    other_hits += sum(1 for k in fg if other[z * plane + k] > 0)
        for z in range(nz):
            p, t = pred[z * plane:(z + 1) * plane], truth[z * plane:(z + 1) * plane]
            p_fg = {k for k, v in enumerate(p) if v > 0}
            t_fg = {k for k, v in enumerate(t) if v > 0}
            for total, split in ((missed, distance_split(t_fg - p_fg, p_fg, nx, ny)),
                                 (false_fg, distance_split(p_fg - t_fg, t_fg, nx, ny))):
                for i, n in enumerate(split):
                    total[i] += n
    classes = max(max(k) for k in confusion) + 1
    names = names or [str(c) for c in range(classes)]
    names += [str(c) for c in range(len(names), classes)]
    print('voxels, rows: truth, columns: prediction')
    print(f'{"":>8}' + ''.join(f'{n:>9}' for n in names[:classes]) + '   recall')
    for a in range(classes):
        row = [confusion[(a, b)] for b in range(classes)]
        recall = f'   {row[a] / sum(row):.3f}' if sum(row) else ''
        print(f'{names[a]:>8}' + ''.join(f'{n:>9}' for n in row) + recall)
    for what, split, other in (('foreground missed', missed, 'the predicted foreground'),
                               ('false foreground', false_fg, 'the true foreground')):
        print(f'{what}: {sum(split)} voxels; next to {other} {split[0]}, 2 voxels away '
              f'{split[1]}, farther {split[2]}, on slices without any {split[3]}')
    by_dz = ', '.join(f'{dz if dz is not None else "none drawn"}: {n}'
                      for dz, n in sorted(undrawn_by_dz.items(), key=lambda kv: kv[0] or 1e9))
    print(f'foreground on slices where nothing is drawn, by z distance to a drawn slice: {by_dz}')
    if len(args[0].split(':')) > 2:
        print(f'  of which the third map draws as foreground: {other_hits}')


if __name__ == '__main__':
    main()
