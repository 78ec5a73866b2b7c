"""Recomputes the released-PCSW reference values of `crate/src/prompt/pcsw.rs` (test
`matches_the_released_python_on_random_volumes`) with the released code itself.

The released code is `models/pcsw.py` of AIGeeksGroup/SSS at commit a01f346 (the repository's
later commits removed it); `released_pcsw.sh` checks it out. This script imports that file's
`PCSWPromptGenerator` unchanged and runs its `generate_prompts` on each volume of the Rust test
(dims [nx, ny, nz]; '0'/'1' bits in C order of a [z][y][x] array, x fastest), once with
`scipy.ndimage.label`'s default structure (6-connectivity) and once with `ones((3, 3, 3))`
(26-connectivity, what the release's comment says it means), by replacing the module's `label`.

`generate_prompts` returns the slice, box and point. Which window won (or whether it fell back)
is read from the release's own calls to `evaluate_continuity_and_filter`, recorded by a wrapper:
the first call whose result passes `C >= threshold_tau` is the window; none means the fallback
(or the placeholder when the volume is empty).

Exits non-zero when anything differs from the Rust test's expectations (points to 1e-5).
Run with `tests/reference/released_pcsw.sh`.
"""

import argparse
import importlib.util
import pathlib
import re
import sys

import numpy as np
import scipy.ndimage
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "crate/src/prompt/pcsw.rs"

EXPECTED = r"\(\s*(?P<src>w\(\d+,\s*\d+\)|PromptSource::\w+),\s*(?P<slice>\d+),\s*\[(?P<box>[^\]]*)\],\s*\[(?P<point>[^\]]*)\],?\s*\)"
CASE = re.compile(
    r"\(\s*\[(?P<dims>[\d,\s]+)\],\s*\"(?P<bits>[01]+)\",\s*(?P<e26>"
    + EXPECTED.replace("?P<", "?P<a_")
    + r"),\s*(?P<e6>"
    + EXPECTED.replace("?P<", "?P<b_")
    + r"),?\s*\)",
    re.S,
)


def numbers(text):
    return [float(v.replace("_", "")) for v in text.split(",") if v.strip()]


def expected(m, prefix):
    src = m.group(prefix + "src")
    window = re.fullmatch(r"w\((\d+),\s*(\d+)\)", src)
    source = ("Window", int(window[1]), int(window[2])) if window else (src.split("::")[1],)
    return source, int(m.group(prefix + "slice")), numbers(m.group(prefix + "box")), numbers(m.group(prefix + "point"))


def load_release(release_dir):
    path = pathlib.Path(release_dir) / "models" / "pcsw.py"
    if not path.is_file():
        sys.exit(f"{path} not found: pass a checkout of AIGeeksGroup/SSS at a01f346 (released_pcsw.sh makes one)")
    spec = importlib.util.spec_from_file_location("released_pcsw", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_release(module, volume, connectivity):
    """The release's (source, slice, box, point) for a [z][y][x] 0/1 array."""
    structure = np.ones((3, 3, 3)) if connectivity == 26 else None
    module.label = lambda v: scipy.ndimage.label(v, structure=structure)
    generator = module.PCSWPromptGenerator(feature_channels=1)
    calls = []
    original = generator.evaluate_continuity_and_filter

    def recorded(sub_vol):
        clean, c = original(sub_vol)
        calls.append((len(sub_vol), clean is not None and c >= generator.threshold_tau))
        return clean, c

    generator.evaluate_continuity_and_filter = recorded
    masks = torch.from_numpy(volume.astype(np.float32))[:, None]
    out = generator.generate_prompts(masks, volume.shape)
    source = ("Empty",) if volume.sum() == 0 else ("Fallback",)
    for k, (n, passed) in enumerate(calls):
        if passed:
            start = sum(1 for m, _ in calls[:k] if m == n)
            source = ("Window", n, start)
            break
    return source, int(out["prompt_slice_idx"]), out["box"][0].tolist(), out["point"][0].tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", help="checkout of AIGeeksGroup/SSS at a01f346")
    args = parser.parse_args()
    module = load_release(args.release)
    text = SOURCE.read_text()
    start = text.index("fn matches_the_released_python_on_random_volumes")
    body = text[start : text.index("for (dims, bits, e26, e6) in cases", start)]
    cases = list(CASE.finditer(body))
    if not cases:
        sys.exit(f"no cases found in {SOURCE}")
    failures = 0
    for m in cases:
        nx, ny, nz = (int(v) for v in m.group("dims").split(","))
        bits = m.group("bits")
        if len(bits) != nx * ny * nz:
            sys.exit(f"case {nx}x{ny}x{nz}: {len(bits)} bits")
        volume = np.array([b == "1" for b in bits], dtype=np.uint8).reshape(nz, ny, nx)
        for conn, prefix in ((26, "a_"), (6, "b_")):
            want = expected(m, prefix)
            got = run_release(module, volume, conn)
            same = (
                got[0] == want[0]
                and got[1] == want[1]
                and got[2] == want[2]
                and all(abs(a - b) < 1e-5 for a, b in zip(got[3], want[3], strict=True))
            )
            failures += not same
            mark = "ok  " if same else "DIFF"
            print(f"{mark} [{nx}, {ny}, {nz}] {conn:2}-connected  release {got}  rust test {want}")
    print(f"{len(cases)} volumes x 2 connectivities, {failures} differing")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
