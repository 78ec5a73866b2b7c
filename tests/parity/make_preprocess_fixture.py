"""Parity fixture for the image predictor's own preprocessing, from a non-square image.

The other fixtures feed frames already at the model's size. The product's images are not
square and not at that size, so this fixture runs the official `SAM2ImagePredictor` (PyPI
`sam2`) with the committed micro weights (`fixtures/micro/weights.pt`, loaded strictly) on a
160 × 288 RGB image (upsampled along y and downsampled along x to the model's 256², so
both directions of the antialiased resize are exercised) and records what each step gives:
`SAM2Transforms` (to [0, 1], resize to S × S, normalise), the prompt coordinates rescaled from
the original image to the model's (`transform_coords` / `transform_boxes` with
`normalize_coords=True`), and the predicted mask logits brought back to the original size,
with their IoU predictions, for a box + click (one mask) and for one click (multimask).

Usage (through make_fixtures.sh's venv):
    python tests/parity/make_preprocess_fixture.py [--out DIR]   # default fixtures/micro-preprocess/

Writes DIR/{tensors.safetensors, meta.json}; `crate/tests/parity.rs`
(`parity_image_predictor_preprocessing`) runs the same image and prompts through
`ImagePredictor::set_image_rgb` and `predict`.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam2_parity_common as common  # noqa: E402

HEIGHT, WIDTH = 160, 288
ROW0 = 64
SEED = 20261130


def main():
    out = common.fixture_out_dir(__doc__, "micro-preprocess")
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = common.micro_with_committed_weights(SEED)
    model.eval()
    size = model.image_size

    # A square scene at the width, its rows ROW0 .. ROW0 + HEIGHT kept: HWC uint8.
    square, main_object = common.make_slices(1, WIDTH, SEED)
    image = square[0, :, ROW0:ROW0 + HEIGHT, :].permute(1, 2, 0).contiguous().numpy()
    cx, cy, rx, ry = main_object[0]
    cy -= ROW0
    box = [round(cx - 1.1 * rx), round(max(cy - 1.1 * ry, 0)), round(cx + 1.1 * rx),
           round(min(cy + 1.1 * ry, HEIGHT - 1))]
    point = [round(cx), round(cy)]

    predictor = SAM2ImagePredictor(model)
    # The official predictor hard-codes the feature sizes of a 1024² input; micro's are these.
    predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8),
                                (size // 16, size // 16)]
    tensors = {"input.image_u8": torch.from_numpy(image.copy())}
    with torch.inference_mode():
        tensors["model_input"] = predictor._transforms(image)[None].float().contiguous()
        predictor.set_image(image)
        cases = {
            "box_point": dict(point_coords=np.array([point], dtype=np.float32),
                              point_labels=np.array([1], dtype=np.int32),
                              box=np.array(box, dtype=np.float32), multimask_output=False),
            "point": dict(point_coords=np.array([point], dtype=np.float32),
                          point_labels=np.array([1], dtype=np.int32), multimask_output=True),
        }
        report = {}
        for name, kw in cases.items():
            masks, ious, low_res = predictor.predict(**kw, return_logits=True)
            tensors[f"{name}.masks"] = torch.from_numpy(masks).float()[None].contiguous()
            tensors[f"{name}.ious"] = torch.from_numpy(ious).float()[None].contiguous()
            tensors[f"{name}.low_res"] = torch.from_numpy(low_res).float()[None].contiguous()
            report[name] = {"fg_fraction": [round(float((m > 0).mean()), 4) for m in masks],
                            "ious": [round(float(v), 4) for v in ious]}
            # A trivial fixture proves nothing.
            assert 0.0 < report[name]["fg_fraction"][0] < 1.0, (name, report[name])
    meta = {
        "config": "micro",
        "weights": "fixtures/micro/weights.pt",
        "seed": SEED,
        "torch": torch.__version__,
        "image_size": size,
        "height": HEIGHT,
        "width": WIDTH,
        "box": box,
        "point": point,
        "sanity": report,
    }
    common.save_fixture(out, "micro-preprocess", tensors, meta)


if __name__ == "__main__":
    main()
