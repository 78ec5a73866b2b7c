"""One SAM-2 training step of the official PyTorch code (PyPI `sam2`), timed, to set beside
`sss bench --train` (crate/src/cli/bench_train.rs), which times the same step in burn.

Usage (the venv of venv.sh, or any python with torch and sam2 importable):
    python tests/parity/bench_torch_train.py [--specs micro@128,tiny@512,tiny@1024]
        [--device cpu|cuda] [--runs 5] [--warmup 2] [--threads 2] [--bf16]

The step, as in the Rust bench: a two-slice clip [2, 3, S, S] through `forward_image` as one
batch; slice 0 prompted with a box (labels 2, 3) and a positive click for each of 3 objects
(`track_step` with `run_mem_encoder=True`: prompt encoder, mask decoder, memory encoder);
slice 1 tracked from slice 0's memory (`track_step`, no prompt, no memory encoding); BCE + Dice
of both slices' low-resolution mask logits (clamped to ±32) against the same filled boxes;
backward; one AdamW step (lr 1e-4, weight decay 0.01). Model in train mode (memory
attention's dropout 0.1 is active, as in official training), float32 unless --bf16 (autocast
of the forward, as official training's `amp` bf16 setting). Weights: the seeded random ones of
the parity fixtures. Prints one JSON line per spec: median step ms, slices per second, peak
CUDA memory.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam2_parity_common as common  # noqa: E402
from hydra import compose  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

OBJECTS = 3
FRAMES = 2


def build(config, size):
    overrides = common.overrides_for(config) + [f"model.image_size={size}"]
    cfg = compose(config_name=common.TINY_CONFIG, overrides=overrides)
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True).float()
    common.perturb_(model, 1)
    return model


def prompts(size, device):
    s = float(size)
    coords, labels = [], []
    for i in range(OBJECTS):
        x0 = s * (0.15 + 0.25 * i)
        box = [x0, 0.3 * s, x0 + 0.2 * s, 0.7 * s]
        coords.append([[box[0], box[1]], [box[2], box[3]], [(box[0] + box[2]) / 2, 0.5 * s]])
        labels.append([2, 3, 1])
    return (torch.tensor(coords, dtype=torch.float32, device=device),
            torch.tensor(labels, dtype=torch.int32, device=device))


def targets(low, device):
    t = torch.zeros(FRAMES, OBJECTS, low, low, device=device)
    for o in range(OBJECTS):
        x0 = int(low * (0.15 + 0.25 * o))
        t[:, o, 3 * low // 10: 7 * low // 10, x0: x0 + low // 5] = 1.0
    return t


def bce_dice(logits, target):
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dims = (0, 2, 3)
    inter = (p * target).sum(dims)
    dice = (2 * inter + 1e-5) / (p.sum(dims) + target.sum(dims) + 1e-5)
    return bce + (1 - dice).mean()


def bench(spec, device, runs, warmup, bf16):
    config, size = spec.split("@")
    size = int(size)
    torch.manual_seed(0)
    model = build(config, size).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    images = torch.randn(FRAMES, 3, size, size, device=device)
    coords, labels = prompts(size, device)
    low = size // 4
    target = targets(low, device)

    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            backbone_out = model.forward_image(images)
            _, feats, pos, sizes = model._prepare_backbone_features(backbone_out)

            def frame(z):
                pick = lambda xs: [x[:, z: z + 1].expand(-1, OBJECTS, -1) for x in xs]  # noqa
                return pick(feats), pick(pos)

            output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
            logits = []
            for z in range(FRAMES):
                vf, vp = frame(z)
                out = model.track_step(
                    frame_idx=z,
                    is_init_cond_frame=z == 0,
                    current_vision_feats=vf,
                    current_vision_pos_embeds=vp,
                    feat_sizes=sizes,
                    point_inputs={"point_coords": coords, "point_labels": labels} if z == 0
                    else None,
                    mask_inputs=None,
                    output_dict=output_dict,
                    num_frames=FRAMES,
                    track_in_reverse=False,
                    run_mem_encoder=z + 1 < FRAMES,
                    prev_sam_mask_logits=None,
                )
                key = "cond_frame_outputs" if z == 0 else "non_cond_frame_outputs"
                output_dict[key][z] = out
                logits.append(out["pred_masks"][:, 0])  # [objects, low, low]
            logits = torch.stack(logits).float().clamp(-32.0, 32.0)
            loss = bce_dice(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()  # waits for the step on the GPU
        if not torch.isfinite(torch.tensor(value)):
            raise RuntimeError(f"loss not finite: {value}")

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    return {"config": config, "image_size": size, "device": str(device),
            "dtype": "bf16-autocast" if bf16 else "f32", "frames": FRAMES, "objects": OBJECTS,
            "runs": runs, "step_ms": round(ms, 3), "slices_per_s": round(FRAMES / (ms / 1e3), 2),
            "peak_cuda_mib": None if peak is None else round(peak, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--specs", default="micro@128,tiny@512,tiny@1024")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for spec in args.specs.split(","):
        print(json.dumps(bench(spec, device, args.runs, args.warmup, args.bf16)), flush=True)


if __name__ == "__main__":
    main()
