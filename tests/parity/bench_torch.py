"""CPU timings of the official SAM-2 PyTorch code (PyPI `sam2`), to set beside the Rust port's.

Usage (through bench_torch.sh, which sets up the venv):
    python tests/parity/bench_torch.py [--configs micro,tiny] [--runs 5] [--threads 2]

Prints one JSON line per (config, stage): {"config","stage","median_ms","runs"}, medians over
`runs` timed calls after one warm-up call, torch intra-op threads = `threads`, float32, eval,
inference_mode (bench_torch.sh sets OMP_WAIT_POLICY=PASSIVE; see there). Weights are the seeded random ones of the fixtures (timing does not depend on
them). Stages:
  image_encoder     model.forward_image on one slice [1,3,S,S]: Hiera trunk + FPN neck
                    (+ conv_s0/conv_s1 high-res projections, as the predictor caches them)
  prompt_decoder    sam_prompt_encoder (1 positive click) + sam_mask_decoder (multimask on,
                    high-res features) on cached image features
  propagation_step  model.track_step on a new slice (image features precomputed) with a full
                    memory bank: 1 conditioning slice + 6 previous slices (7 spatial memories)
                    and 7 object pointers = memory attention + prompt-less decoder + memory
                    encoder, exactly what SAM2VideoPredictor runs per tracked slice
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam2_parity_common as common  # noqa: E402


def timed(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_config(config, runs):
    torch.manual_seed(0)
    model, _ = common.build_model(config)
    common.perturb_(model, 1)
    size = model.image_size
    num_frames = model.num_maskmem + 1  # 7 memory slices + the new one
    images_u8, main = common.make_slices(num_frames, size, 2)
    images = common.preprocess(images_u8)
    results = []

    with torch.inference_mode():
        x0 = images[0][None]
        results.append(("image_encoder", timed(lambda: model.forward_image(x0), runs)))

        feats = []
        for z in range(num_frames):
            backbone_out = model.forward_image(images[z][None])
            _, vision_feats, vision_pos, feat_sizes = model._prepare_backbone_features(
                backbone_out
            )
            feats.append((vision_feats, vision_pos, feat_sizes))

        cx, cy, _, _ = main[0]
        coords = torch.tensor([[[cx, cy]]], dtype=torch.float32)
        labels = torch.tensor([[1]], dtype=torch.int32)
        vision_feats, _, feat_sizes = feats[0]
        image_emb = vision_feats[-1].permute(1, 2, 0).view(1, -1, *feat_sizes[-1])
        high_res = [
            x.permute(1, 2, 0).view(1, -1, *s)
            for x, s in zip(vision_feats[:-1], feat_sizes[:-1])
        ]

        def prompt_decoder():
            sparse, dense = model.sam_prompt_encoder(
                points=(coords, labels), boxes=None, masks=None
            )
            return model.sam_mask_decoder(
                image_embeddings=image_emb,
                image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
                repeat_image=False,
                high_res_features=high_res,
            )

        results.append(("prompt_decoder", timed(prompt_decoder, runs)))

        # memory bank as the video predictor builds it: slice 0 prompted, 1..6 tracked
        output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}

        def step(z, point_inputs, output_dict=output_dict):
            vf, vp, fs = feats[z]
            return model.track_step(
                frame_idx=z,
                is_init_cond_frame=z == 0,
                current_vision_feats=vf,
                current_vision_pos_embeds=vp,
                feat_sizes=fs,
                point_inputs=point_inputs,
                mask_inputs=None,
                output_dict=output_dict,
                num_frames=num_frames,
                run_mem_encoder=True,
            )

        output_dict["cond_frame_outputs"][0] = step(
            0, {"point_coords": coords, "point_labels": labels}
        )
        for z in range(1, num_frames - 1):
            output_dict["non_cond_frame_outputs"][z] = step(z, None)
        new = num_frames - 1
        results.append(("propagation_step", timed(lambda: step(new, None), runs)))
    return results


def bench_ops(runs):
    """The single operations of `sss bench --ops`, same shapes, in PyTorch."""
    f = torch.nn.functional
    hidden = torch.randn(1, 256, 256, 384)
    x = torch.randn(1, 256, 256, 96)
    qkv = torch.nn.Linear(96, 288)
    yield "GELU, stage-1 MLP hidden [1, 256, 256, 384]", timed(lambda: f.gelu(hidden), runs)
    yield "linear 96 → 288 on [1, 256, 256, 96] (stage-1 qkv)", timed(lambda: qkv(x), runs)
    for name, q_dims, k_dims in [
        ("attention, stage-1 windows", [1024, 1, 64, 96], [1024, 1, 64, 96]),
        ("attention, stage-3 global", [1, 4, 4096, 96], [1, 4, 4096, 96]),
        ("attention, memory cross-attention", [1, 1, 4096, 256], [1, 1, 28736, 256]),
    ]:
        q, k, v = torch.randn(q_dims), torch.randn(k_dims), torch.randn(k_dims)
        yield (f"{name} q {q_dims} k {k_dims}",
               timed(lambda: f.scaled_dot_product_attention(q, k, v), runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", action="store_true",
                    help="time the single operations of `sss bench --ops` instead of stages")
    ap.add_argument("--configs", default="micro,tiny")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.ops:
        with torch.inference_mode():
            for op, median_ms in bench_ops(args.runs):
                print(json.dumps({"op": op, "median_ms": round(median_ms, 3), "runs": args.runs}),
                      flush=True)
        return
    for config in args.configs.split(","):
        for stage, median_ms in bench_config(config, args.runs):
            line = {"config": config, "stage": stage, "median_ms": round(median_ms, 3),
                    "runs": args.runs}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
