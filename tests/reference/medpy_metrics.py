"""Recomputes the medpy reference values of `crate/src/metrics.rs` (test
`matches_medpy_fixtures`) from the masks written there, with medpy itself.

Each case in the Rust test gives `dims` ([nx, ny, nz]), an optional `spacing`
([sx, sy, sz]), and the two masks as '0'/'1' strings in C order of a [z][y][x]
array (x fastest). For each, this prints medpy's `dc, jc, hd95, asd(a, b),
asd(b, a), assd` (voxelspacing given as (sz, sy, sx)) next to the values the Rust
test expects, and exits non-zero if any differs by more than 1e-9.

Run with `tests/reference/medpy_metrics.sh` (makes a venv with medpy, numpy, scipy).
"""

import pathlib
import re
import sys

import numpy as np
from medpy.metric import binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "crate/src/metrics.rs"

CASE = re.compile(
    r"Case \{\s*dims: \[(?P<dims>[^\]]*)\],\s*spacing: (?P<spacing>None|Some\(\[[^\]]*\]\)),"
    r"\s*pred: \"(?P<pred>[01]+)\",\s*gt: \"(?P<gt>[01]+)\",\s*expected: \[(?P<expected>[^\]]*)\]",
    re.S,
)


def numbers(text):
    return [float(v) for v in text.replace("\n", " ").split(",") if v.strip()]


def main():
    text = SOURCE.read_text()
    body = text[text.index("fn matches_medpy_fixtures") :]
    cases = list(CASE.finditer(body))
    if not cases:
        sys.exit(f"no cases found in {SOURCE}")
    worst = 0.0
    for m in cases:
        nx, ny, nz = (int(v) for v in numbers(m["dims"]))
        spacing = None
        if m["spacing"] != "None":
            sx, sy, sz = numbers(m["spacing"][6:-2])
            # The decimal spacing as written (f64); the Rust test holds it as f32, hence its
            # tolerance of 1e-6.
            spacing = (sz, sy, sx)
        shape = (nz, ny, nx)
        a = np.array([c == "1" for c in m["pred"]], dtype=bool).reshape(shape)
        b = np.array([c == "1" for c in m["gt"]], dtype=bool).reshape(shape)
        got = [
            binary.dc(a, b),
            binary.jc(a, b),
            binary.hd95(a, b, voxelspacing=spacing),
            binary.asd(a, b, voxelspacing=spacing),
            binary.asd(b, a, voxelspacing=spacing),
            binary.assd(a, b, voxelspacing=spacing),
        ]
        expected = numbers(m["expected"])
        diff = max(abs(g - e) for g, e in zip(got, expected))
        worst = max(worst, diff)
        print(f"dims {nx}x{ny}x{nz} spacing {spacing}: medpy "
              + ", ".join(f"{g:.12f}" for g in got)
              + f" | largest difference to the Rust test's values {diff:.2e}")
    print(f"{len(cases)} cases, largest difference {worst:.2e}")
    # The Rust test's values carry 12 decimals.
    sys.exit(0 if worst <= 1e-9 else 1)


if __name__ == "__main__":
    main()
