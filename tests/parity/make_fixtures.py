"""Parity fixtures from the official SAM-2 PyTorch code (PyPI `sam2`), for the Rust port's tests.

Usage (through make_fixtures.sh, which sets up the venv):
    python tests/parity/make_fixtures.py [--config micro|tiny] [--out DIR] [--seed N]

Writes DIR/{weights.pt, tensors.safetensors, meta.json}; tensor names, layouts and the exact
official call sequence are documented in tests/parity/FIXTURES.md.
"""

import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam2_parity_common as common  # noqa: E402

NUM_SLICES = 4
PROMPT_SLICE = 1
ROW0 = 96


class Recorder:
    """Collects named f32 tensors (contiguous, detached, CPU)."""

    def __init__(self, full):
        self.full = full
        self.tensors = {}
        self.skipped = []

    def put(self, name, t, dtype=torch.float32, full_only=False):
        """full_only: large tensors implied by others; kept out of the compact (committed) set."""
        assert name not in self.tensors, name
        if full_only and not self.full:
            self.skipped.append(name)
            return
        self.tensors[name] = t.detach().to("cpu", dtype).contiguous().clone()

    def put_list(self, prefix, ts, full_only=()):
        for i, t in enumerate(ts):
            self.put(f"{prefix}{i}", t, full_only=i in full_only)


def prompts_for(main_object, size):
    """Prompts on the prompted slice, in pixel units of the model input (x, y)."""
    cx, cy, rx, ry = main_object[PROMPT_SLICE]
    points = torch.tensor([[[cx, cy], [cx + 0.55 * rx, cy - 0.3 * ry]]], dtype=torch.float32)
    labels = torch.tensor([[1, 1]], dtype=torch.int32)
    box = torch.tensor(
        [[cx - 1.1 * rx, cy - 1.1 * ry, cx + 1.1 * rx, cy + 1.1 * ry]], dtype=torch.float32
    )
    box = box.clamp(0, size - 1).round()
    points = points.round()
    one_point = points[:, :1]
    one_label = labels[:, :1]
    return points, labels, one_point, one_label, box


def mask_prompt_lowres(main_object, size):
    """A low-res (image_size/4) mask-logit prompt: +/-4 logits of a slightly shifted ellipse."""
    low = size // 4
    cx, cy, rx, ry = (v / 4.0 for v in main_object[PROMPT_SLICE])
    yy, xx = torch.meshgrid(
        torch.arange(low, dtype=torch.float32) + 0.5,
        torch.arange(low, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    d = ((xx - cx - 1.5) / rx) ** 2 + ((yy - cy + 1.0) / (0.9 * ry)) ** 2
    return (4.0 * (1.0 - d).clamp(-1.0, 1.0))[None, None]


def image_stages(model, rec, image_norm, prefix):
    """Trunk, neck, conv_s0/s1 for one slice (model.forward_image decomposed)."""
    x = image_norm[None]
    trunk_out = model.image_encoder.trunk(x)
    rec.put_list(f"{prefix}trunk.l", trunk_out, full_only=(0,))
    feats, pos = model.image_encoder.neck(trunk_out)
    scalp = model.image_encoder.scalp
    feats, pos = feats[: len(feats) - scalp], pos[: len(pos) - scalp]
    # compact: fpn0/fpn1 are implied by highres.s0/s1 (their only consumers, 1x1 convs)
    rec.put_list(f"{prefix}neck.fpn", feats, full_only=(0, 1))
    rec.put_list(f"{prefix}neck.pos", pos, full_only=(0, 1))
    # cross-check with the official composed path
    backbone_out = model.forward_image(x)
    s0 = model.sam_mask_decoder.conv_s0(feats[0])
    s1 = model.sam_mask_decoder.conv_s1(feats[1])
    assert torch.equal(backbone_out["backbone_fpn"][0], s0)
    assert torch.equal(backbone_out["backbone_fpn"][1], s1)
    assert torch.equal(backbone_out["backbone_fpn"][2], feats[2])
    rec.put(f"{prefix}highres.s0", s0)
    rec.put(f"{prefix}highres.s1", s1)
    return feats, pos, [s0, s1]


def prompt_and_decoder(model, rec, feats, high_res, points, labels, one_point, one_label,
                       box, mask_low):
    """Prompt encoder + mask decoder cases on the prompted slice's features."""
    pe = model.sam_prompt_encoder
    dec = model.sam_mask_decoder
    # What the video predictor feeds on an initial conditioning frame
    # (directly_add_no_mem_embed): backbone level-2 features + no_mem_embed.
    image_emb = feats[2] + model.no_mem_embed.view(1, -1, 1, 1)
    rec.put("dec.in.image_embeddings", image_emb)
    image_pe = pe.get_dense_pe()
    rec.put("prompt.image_pe", image_pe)

    box_coords = box.reshape(1, 2, 2)
    box_labels = torch.tensor([[2, 3]], dtype=torch.int32)
    cases = {
        # name: (coords, labels, mask prompt)
        "point1": (one_point, one_label, None),
        "points": (points, labels, None),
        "box": (box_coords, box_labels, None),
        # the SSS prompt: box corners first (labels 2, 3), then the centre click (label 1)
        "box_point": (torch.cat([box_coords, one_point], 1),
                      torch.cat([box_labels, one_label], 1), None),
        "points_mask": (points, labels, mask_low),
    }
    for name, (c, lab, m) in cases.items():
        sparse, dense = pe(points=(c, lab), boxes=None, masks=m)
        rec.put(f"prompt.{name}.sparse", sparse)
        # without a mask prompt, dense = no_mask_embed broadcast: one copy in compact mode
        rec.put(f"prompt.{name}.dense", dense, full_only=name not in ("point1", "points_mask"))
        for multi in (True, False):
            if multi and name != "point1" and not rec.full:
                continue
            masks, iou, tokens, obj = dec(
                image_embeddings=image_emb,
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multi,
                repeat_image=False,
                high_res_features=high_res,
            )
            tag = f"dec.{name}.{'multi' if multi else 'single'}"
            rec.put(f"{tag}.masks", masks)
            rec.put(f"{tag}.iou", iou)
            rec.put(f"{tag}.sam_tokens_out", tokens)
            rec.put(f"{tag}.object_score_logits", obj)
    # dynamic_multimask_via_stability (what build_sam2_video_predictor's postprocessing turns
    # on) for the single-mask case, and the raw 4-mask output it selects from.
    sparse, dense = pe(points=(points, labels), boxes=None, masks=None)
    all_masks, all_iou, _, _ = dec.predict_masks(
        image_embeddings=image_emb, image_pe=image_pe, sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense, repeat_image=False, high_res_features=high_res,
    )
    rec.put("dec.points.all.masks", all_masks, full_only=True)
    rec.put("dec.points.all.iou", all_iou)
    dec.dynamic_multimask_via_stability = True
    dec.dynamic_multimask_stability_delta = 0.05
    dec.dynamic_multimask_stability_thresh = 0.98
    masks, iou, _, _ = dec(
        image_embeddings=image_emb, image_pe=image_pe, sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense, multimask_output=False, repeat_image=False,
        high_res_features=high_res,
    )
    dec.dynamic_multimask_via_stability = False
    rec.put("dec.points.single_dyn.masks", masks)
    rec.put("dec.points.single_dyn.iou", iou)


class ModuleTap:
    """Records the (kw)args and output of every call to a module."""

    def __init__(self, module):
        self.calls = []
        self.handle = module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, _module, args, kwargs, output):
        self.calls.append((args, dict(kwargs), output))

    def close(self):
        self.handle.remove()


def propagate(model, rec, images_norm, prefix, prompt, meta):
    """Official SAM2VideoPredictor run: prompt on PROMPT_SLICE, forward, then backward."""
    n = images_norm.shape[0]
    size = images_norm.shape[-1]
    state = common.init_state_from_tensors(model, images_norm)
    memattn = ModuleTap(model.memory_attention)
    memenc = ModuleTap(model.memory_encoder)
    decoder = ModuleTap(model.sam_mask_decoder)
    kind, value = prompt
    if kind == "points":
        coords, labels = value
        model.add_new_points_or_box(
            state, frame_idx=PROMPT_SLICE, obj_id=1, points=coords[0], labels=labels[0]
        )
    elif kind == "box_point":
        box, coords, labels = value
        model.add_new_points_or_box(
            state, frame_idx=PROMPT_SLICE, obj_id=1, box=box[0], points=coords[0],
            labels=labels[0],
        )
    elif kind == "empty_mask":
        model.add_new_mask(
            state, frame_idx=PROMPT_SLICE, obj_id=1,
            mask=torch.zeros(size, size, dtype=torch.bool),
        )
    else:
        raise ValueError(kind)
    order = [z for z, _, _ in model.propagate_in_video(state, start_frame_idx=PROMPT_SLICE)]
    order += [
        z for z, _, _ in model.propagate_in_video(state, start_frame_idx=PROMPT_SLICE, reverse=True)
    ]
    meta[f"{prefix}order"] = order
    out = state["output_dict_per_obj"][0]
    for z in range(n):
        is_cond = z in out["cond_frame_outputs"]
        o = out["cond_frame_outputs"][z] if is_cond else out["non_cond_frame_outputs"][z]
        rec.put(f"{prefix}s{z}.pred_masks", o["pred_masks"])
        rec.put(f"{prefix}s{z}.object_score_logits", o["object_score_logits"])
        rec.put(f"{prefix}s{z}.obj_ptr", o["obj_ptr"])
        # stored as bfloat16 by the official predictor; saved here as those values in f32
        rec.put(f"{prefix}s{z}.maskmem_features", o["maskmem_features"])
    # the same for every slice, = memenc.out.vision_pos_enc
    rec.put(f"{prefix}maskmem_pos_enc", state["constants"]["maskmem_pos_enc"][0], full_only=True)
    # memory attention, one call per tracked (non-prompted) slice, in processing order
    tracked = [z for z in order if z != PROMPT_SLICE]
    assert len(memattn.calls) == len(tracked), (len(memattn.calls), tracked)
    for z, (_args, kw, output) in zip(tracked, memattn.calls):
        rec.put(f"{prefix}s{z}.memattn.out", output, full_only=prefix != "prop.")
        meta[f"{prefix}s{z}.memattn.num_obj_ptr_tokens"] = int(kw["num_obj_ptr_tokens"])
        meta[f"{prefix}s{z}.memattn.memory_len"] = int(kw["memory"].shape[0])
    # memory encoder calls: prompted slice first (propagate preflight), then each tracked slice
    enc_slices = [PROMPT_SLICE] + tracked
    assert len(memenc.calls) == len(enc_slices), (len(memenc.calls), enc_slices)
    # argmax margins of every multimask selection (init click + tracking), for tolerances
    margins = []
    for _a, kw, (_m, iou, _t, _o) in decoder.calls:
        if iou.shape[-1] > 1:
            top = torch.sort(iou[0], descending=True).values
            margins.append(round(float(top[0] - top[1]), 5))
    meta[f"{prefix}multimask_iou_top2_margins"] = margins
    memattn.close()
    memenc.close()
    decoder.close()
    return state, memattn.calls, memenc.calls, tracked


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="micro", choices=["micro", "tiny"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=20250)
    ap.add_argument("--full", action="store_true",
                    help="also save the large tensors implied by others (default for tiny)")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = args.out or os.path.join(here, "fixtures", args.config)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)

    model, _ = common.build_model(args.config)
    common.perturb_(model, args.seed + 1)
    size = model.image_size
    rec = Recorder(full=args.full or args.config == "tiny")
    meta = {
        "config": args.config,
        "seed": args.seed,
        "torch": torch.__version__,
        "sam2_package": "sam2 (PyPI) " + _sam2_version(),
        "hydra_config": common.TINY_CONFIG,
        "hydra_overrides": common.overrides_for(args.config),
        "postprocessing_overrides": common.POSTPROCESSING_OVERRIDES,
        "image_size": size,
        "num_slices": NUM_SLICES,
        "prompt_slice": PROMPT_SLICE,
        "img_mean": common.IMG_MEAN,
        "img_std": common.IMG_STD,
    }

    images_u8, main_object = common.make_slices(NUM_SLICES, size, args.seed + 2)
    images_norm = common.preprocess(images_u8)
    rec.put("input.images_u8", images_u8, dtype=torch.uint8)
    rec.put(f"input.s{PROMPT_SLICE}.image_norm", images_norm[PROMPT_SLICE], full_only=True)
    # compact: rows [ROW0, ROW0+16) of the prompted slice (preprocessing is per pixel)
    rec.put(f"input.s{PROMPT_SLICE}.image_norm_rows", images_norm[PROMPT_SLICE][:, ROW0:ROW0 + 16])
    meta["image_norm_rows"] = [ROW0, ROW0 + 16]
    points, labels, one_point, one_label, box = prompts_for(main_object, size)
    mask_low = mask_prompt_lowres(main_object, size)
    rec.put("input.points.coords", points)
    rec.put("input.points.labels", labels, dtype=torch.int32)
    rec.put("input.point1.coords", one_point)
    rec.put("input.point1.labels", one_label, dtype=torch.int32)
    rec.put("input.box", box)
    rec.put("input.mask_lowres", mask_low)

    with torch.inference_mode():
        p = f"s{PROMPT_SLICE}."
        feats, _pos, high_res = image_stages(model, rec, images_norm[PROMPT_SLICE], p)
        prompt_and_decoder(model, rec, feats, high_res, points, labels, one_point, one_label,
                           box, mask_low)
        for z in range(NUM_SLICES):
            x = model.forward_image(images_norm[z][None])
            rec.put(f"s{z}.vision_features", x["vision_features"], full_only=True)

    # Propagation with the plain yaml flags, prompt = one positive click on PROMPT_SLICE.
    _state, attn_calls, enc_calls, tracked = propagate(
        model, rec, images_norm, "prop.", ("points", (one_point, one_label)), meta
    )
    # Stage-isolated memory encoder: the call on the prompted slice (preflight).
    (e_args, e_kw, e_out) = enc_calls[0]
    pix_feat, masks = e_args[0], e_args[1]
    # the prompted slice's level-2 backbone features, i.e. s1.neck.fpn2
    assert torch.equal(pix_feat, prompt_slice_fpn2(model, images_norm))
    rec.put("memenc.in.pix_feat", pix_feat, full_only=True)
    rec.put("memenc.in.masks", masks, full_only=True)
    meta["memenc.skip_mask_sigmoid"] = bool(e_kw.get("skip_mask_sigmoid", False))
    rec.put("memenc.out.vision_features", e_out["vision_features"])
    rec.put("memenc.out.vision_pos_enc", e_out["vision_pos_enc"][0])
    # Stage-isolated memory attention: the first tracked slice (PROMPT_SLICE + 1).
    (_a, a_kw, a_out) = attn_calls[0]
    z = tracked[0]
    meta["memattn.slice"] = z
    for key in ("curr", "curr_pos", "memory", "memory_pos"):
        v = a_kw[key]
        v = v[0] if isinstance(v, list) else v
        # curr_pos = s1.neck.pos2 flattened (HW,1,C): the same on every slice
        rec.put(f"memattn.in.{key}", v, full_only=key == "curr_pos")
    meta["memattn.num_obj_ptr_tokens"] = int(a_kw["num_obj_ptr_tokens"])
    assert torch.equal(a_out, rec.tensors["prop.s2.memattn.out"])
    rec.put("memattn.out", a_out, full_only=True)  # = prop.s2.memattn.out

    # The class-absent case of Medical-SAM2/SSS: an all-zero mask on the prompted slice
    # (mask-as-output path, no-object pointer and no_obj_embed_spatial in the memory).
    propagate(model, rec, images_norm, "prop_empty.", ("empty_mask", None), meta)
    # Same weights, build_sam2_video_predictor's postprocessing flags, prompt = box + centre
    # click (the SSS prompt).
    model_pp, _ = common.build_model(args.config, postprocessing=True)
    model_pp.load_state_dict(model.state_dict())
    propagate(model_pp, rec, images_norm, "prop_pp.", ("box_point", (box, one_point, one_label)),
              meta)

    _sanity(rec, meta)
    weights_path = os.path.join(out_dir, "weights.pt")
    torch.save({"model": model.state_dict()}, weights_path)
    _check_official_loader(args.config, weights_path, model)
    save_file(rec.tensors, os.path.join(out_dir, "tensors.safetensors"))
    meta["full"] = rec.full
    meta["skipped_in_compact_mode"] = sorted(rec.skipped)
    meta["tensors"] = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                       for k, v in sorted(rec.tensors.items())}
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print(f"[fixtures] {args.config}: {len(rec.tensors)} tensors, {total / 1e6:.2f} MB in {out_dir}")


def _check_official_loader(config, weights_path, model):
    """The checkpoint loads strictly through the package's own builder (build_sam.py)."""
    from sam2.build_sam import build_sam2_video_predictor

    extra = common.MICRO_OVERRIDES if config == "micro" else []
    loaded = build_sam2_video_predictor(
        common.TINY_CONFIG, ckpt_path=weights_path, device="cpu",
        hydra_overrides_extra=extra, apply_postprocessing=False,
    )
    mine = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, mine[k]), k


def prompt_slice_fpn2(model, images_norm):
    with torch.inference_mode():
        return model.forward_image(images_norm[PROMPT_SLICE][None])["backbone_fpn"][2]


def _sam2_version():
    from importlib.metadata import version

    return version("sam2")


def _sanity(rec, meta):
    """Fail loudly if the fixtures would be trivial; record margins the Rust side relies on."""
    t = rec.tensors
    report = {}
    for name, v in sorted(t.items()):
        if v.dtype == torch.float32 and v.numel() > 1 and float(v.std()) == 0.0:
            if name.startswith("prop") and "maskmem_pos_enc" in name:
                continue
            raise SystemExit(f"[fixtures] constant tensor {name}: {v.flatten()[:4]}")
    for prefix in ("prop.", "prop_empty.", "prop_pp."):
        for z in range(NUM_SLICES):
            m = t[f"{prefix}s{z}.pred_masks"]
            score = float(t[f"{prefix}s{z}.object_score_logits"])
            report[f"{prefix}s{z}"] = {
                "object_score_logit": round(score, 4),
                "mask_fg_fraction": round(float((m > 0).float().mean()), 4),
                "min_abs_logit": round(float(m.abs().min()), 5),
            }
    best = int(t["dec.point1.multi.iou"][0].argmax())
    assert torch.equal(t["prop.s1.pred_masks"], t["dec.point1.multi.masks"][:, best:best + 1])
    ious = t["dec.point1.multi.iou"][0]
    top = torch.sort(ious, descending=True).values
    report["dec.point1.multi.iou_top2_margin"] = round(float(top[0] - top[1]), 5)
    meta["sanity"] = report
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
