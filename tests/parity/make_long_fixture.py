"""Propagation parity fixture where the product lives: many slices, several objects.

The product propagates one object per class through a whole volume, beyond SAM-2's 7-slot
memory bank. This fixture runs the official `SAM2VideoPredictor` (PyPI `sam2`) with the
committed micro weights (`fixtures/micro/weights.pt`, loaded strictly) on 12 slices, with three
objects prompted on slice 2 in the three ways the product and its users prompt (box + click,
the SSS/PCSW prompt; one click, which takes the multimask path; a box alone), then propagates
forward to slice 11 (nine tracked slices, so the oldest memories are evicted) and backward to
slice 0. It saves per object and slice the mask logits, object-score logits and object pointers.

Usage (through make_fixtures.sh's venv):
    python tests/parity/make_long_fixture.py [--out DIR]      # default fixtures/micro-long/

Writes DIR/{tensors.safetensors, meta.json}; `crate/tests/parity.rs` (`parity_long_multi_object
_propagation`) replays the same prompts through the crate's `VolumePredictor`.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam2_parity_common as common  # noqa: E402

NUM_SLICES = 12
PROMPT_SLICE = 2
SEED = 20251


def prompts(main_object, size):
    """Object id -> (points [k, 2] or None, labels [k] or None, box [4] or None), in model
    pixels: 1 = box + centre click around the main ellipse, 2 = one click elsewhere, 3 = a
    box alone elsewhere."""
    cx, cy, rx, ry = main_object[PROMPT_SLICE]
    box1 = [cx - 1.1 * rx, cy - 1.1 * ry, cx + 1.1 * rx, cy + 1.1 * ry]
    box1 = [round(min(max(v, 0.0), size - 1.0)) for v in box1]
    return {
        1: ([[round(cx), round(cy)]], [1], box1),
        2: ([[round(0.25 * size), round(0.75 * size)]], [1], None),
        3: (None, None, [round(0.6 * size), round(0.6 * size), round(0.9 * size),
                         round(0.85 * size)]),
    }


def main():
    out = common.fixture_out_dir(__doc__, "micro-long")
    model = common.micro_with_committed_weights(SEED)
    size = model.image_size
    images_u8, main_object = common.make_slices(NUM_SLICES, size, SEED)
    images_norm = common.preprocess(images_u8)
    objects = prompts(main_object, size)

    tensors = {"input.images_u8": images_u8.contiguous()}
    with torch.inference_mode():
        state = common.init_state_from_tensors(model, images_norm)
        for obj_id, (points, labels, box) in objects.items():
            model.add_new_points_or_box(
                state, frame_idx=PROMPT_SLICE, obj_id=obj_id,
                points=None if points is None else torch.tensor(points, dtype=torch.float32),
                labels=None if labels is None else torch.tensor(labels, dtype=torch.int32),
                box=None if box is None else torch.tensor(box, dtype=torch.float32),
            )
        order = [z for z, _, _ in model.propagate_in_video(state, start_frame_idx=PROMPT_SLICE)]
        order += [z for z, _, _ in model.propagate_in_video(
            state, start_frame_idx=PROMPT_SLICE, reverse=True)]
    report = {}
    for index, obj_id in enumerate(objects):
        per_obj = state["output_dict_per_obj"][index]
        for z in range(NUM_SLICES):
            cond = z in per_obj["cond_frame_outputs"]
            o = per_obj["cond_frame_outputs" if cond else "non_cond_frame_outputs"][z]
            prefix = f"o{obj_id}.s{z}."
            tensors[prefix + "pred_masks"] = o["pred_masks"].float().contiguous()
            tensors[prefix + "object_score_logits"] = o["object_score_logits"].float().contiguous()
            tensors[prefix + "obj_ptr"] = o["obj_ptr"].float().contiguous()
            m = o["pred_masks"]
            report[prefix[:-1]] = {
                "object_score_logit": round(float(o["object_score_logits"]), 4),
                "mask_fg_fraction": round(float((m > 0).float().mean()), 4),
            }
    # Trivial fixtures prove nothing: every object must be present somewhere and its masks
    # must change along the slices.
    for obj_id in objects:
        fractions = [report[f"o{obj_id}.s{z}"]["mask_fg_fraction"] for z in range(NUM_SLICES)]
        assert max(fractions) > 0.0, f"object {obj_id} is empty on every slice"
        assert len(set(fractions)) > 1, f"object {obj_id} has the same mask on every slice"
    meta = {
        "config": "micro",
        "weights": "fixtures/micro/weights.pt",
        "seed": SEED,
        "torch": torch.__version__,
        "image_size": size,
        "num_slices": NUM_SLICES,
        "prompt_slice": PROMPT_SLICE,
        "order": order,
        "objects": {str(k): {"points": p, "labels": l, "box": b}
                    for k, (p, l, b) in objects.items()},
        "sanity": report,
    }
    common.save_fixture(out, "micro-long", tensors, meta)


if __name__ == "__main__":
    main()
