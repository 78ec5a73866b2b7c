"""Shared helpers for the SAM-2 parity tools (fixtures + benchmark).

Builds the official SAM-2 model (the installed PyPI `sam2` package, Meta's code; nothing of it is
copied here) from the package's own hydra config `configs/sam2.1/sam2.1_hiera_t.yaml`, either as
is (`tiny`) or with the size overrides of the `micro` contract (tests/parity/MICRO.md), gives it
seeded random weights in which every parameter and buffer is perturbed, and makes smooth seeded
test slices.
"""

import os

import numpy as np
import torch
from hydra import compose
from omegaconf import OmegaConf
from hydra.utils import instantiate

import sam2  # noqa: F401  (its __init__ registers the package's hydra config module)

TINY_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"

# The video predictor class is what `build_sam2_video_predictor` instantiates.
VIDEO_PREDICTOR_TARGET = "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor"

# `micro`: same structure and flags as sam2.1_hiera_t.yaml, only the sizes change (MICRO.md).
MICRO_OVERRIDES = [
    "model.image_size=256",
    "model.image_encoder.trunk.embed_dim=16",
    "model.image_encoder.trunk.num_heads=1",
    "model.image_encoder.trunk.stages=[1,2,2,1]",
    "model.image_encoder.trunk.global_att_blocks=[4]",
    "++model.image_encoder.trunk.window_spec=[8,4,4,2]",
    "model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[8,8]",
    "++model.image_encoder.trunk.q_pool=3",  # q_stride: the class default (2, 2)
    "++model.image_encoder.trunk.dim_mul=2.0",
    "++model.image_encoder.trunk.head_mul=2.0",
    "++model.image_encoder.trunk.drop_path_rate=0.0",
    "model.image_encoder.neck.d_model=32",
    "model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
    "model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.image_encoder.neck.fuse_type=sum",
    "model.memory_attention.d_model=32",
    "model.memory_attention.num_layers=2",
    "model.memory_attention.layer.d_model=32",
    "model.memory_attention.layer.dim_feedforward=64",
    "model.memory_attention.layer.self_attention.feat_sizes=[16,16]",
    "model.memory_attention.layer.self_attention.embedding_dim=32",
    "model.memory_attention.layer.cross_attention.feat_sizes=[16,16]",
    "model.memory_attention.layer.cross_attention.embedding_dim=32",
    "model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "model.memory_encoder.out_dim=16",
    "model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.mask_downsampler.embed_dim=32",
    "model.memory_encoder.fuser.layer.dim=32",
    "++model.memory_encoder.in_dim=32",
]

# What `build_sam2_video_predictor(..., apply_postprocessing=True)` adds, except
# fill_hole_area (its default 8 needs the package's CUDA extension `sam2._C`; without it the
# official code only warns and skips the step, so it is set to 0 here to say so explicitly).
POSTPROCESSING_OVERRIDES = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=0",
]

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def overrides_for(config, postprocessing=False):
    overrides = [VIDEO_PREDICTOR_TARGET]
    if config == "micro":
        overrides += MICRO_OVERRIDES
    elif config != "tiny":
        raise ValueError(f"unknown config {config!r} (micro | tiny)")
    if postprocessing:
        overrides += POSTPROCESSING_OVERRIDES
    return overrides


def build_model(config, postprocessing=False):
    """The official SAM2VideoPredictor for `config`, eval mode, float32, CPU, default init."""
    cfg = compose(config_name=TINY_CONFIG, overrides=overrides_for(config, postprocessing))
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    return model.float().eval(), cfg


def _layer_norm_param_names(model):
    names = set()
    for module_name, module in model.named_modules():
        cls = type(module).__name__
        if isinstance(module, torch.nn.LayerNorm) or cls == "LayerNorm2d":
            names.add(f"{module_name}.weight")
    return names


def perturb_(model, seed):
    """Deterministically perturb every parameter and floating buffer, in place.

    Many SAM-2 tensors start as zeros/ones/1e-6 (biases, pos-embeds, no-mem embeddings, CXBlock
    layer-scale gammas); left so, whole stages would be trivially zero or identity and a parity
    test could not fail. Rules (noise drawn in sorted-name order from one seeded generator):
    - LayerNorm / LayerNorm2d weights: 1 + 0.1 * N(0,1)  (stay near 1)
    - CXBlock `gamma` (layer scale, init 1e-6): 0.5 + 0.1 * N(0,1)
    Then, so that decisions downstream have margins (f32 noise must not flip them):
    - mask-decoder hypernetwork MLPs' last weight x 20 and bias - 2.0 (mask logits of a few
      units, not ~0.1, and ~20-35% foreground rather than ~90%)
    - IoU head's last weight and bias x 10 (argmax of multimask IoUs well separated)
    - object-score head's last weight x 10 and bias + 2.0 (object present on the slices, so
      masks are not all the NO_OBJ placeholder, yet the score depends on the input)
    - everything else: x + s * N(0,1) with s = 0.2 * std(x) when x varies, else 0.05
    """
    gen = torch.Generator().manual_seed(seed)
    ln_names = _layer_norm_param_names(model)
    state = dict(model.named_parameters())
    state.update(dict(model.named_buffers()))
    with torch.no_grad():
        for name in sorted(state):
            t = state[name]
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen, dtype=torch.float32)
            if name in ln_names:
                t.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".gamma"):
                t.copy_(0.5 + 0.1 * noise)
            else:
                std = float(t.float().std()) if t.numel() > 1 else 0.0
                scale = 0.2 * std if std > 1e-8 else 0.05
                t.add_(scale * noise)
        dec = model.sam_mask_decoder
        for mlp in dec.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(20.0)
            mlp.layers[-1].bias.sub_(2.0)
        dec.iou_prediction_head.layers[-1].weight.mul_(10.0)
        dec.iou_prediction_head.layers[-1].bias.mul_(10.0)
        obj_head = dec.pred_obj_score_head
        obj_head = obj_head.layers[-1] if hasattr(obj_head, "layers") else obj_head
        obj_head.weight.mul_(10.0)
        obj_head.bias.add_(2.0)
    return model


def make_slices(n, size, seed):
    """n smooth RGB uint8 slices [n,3,size,size]: blurred ellipses over a gradient, drifting
    slowly along the slice axis like a volume; the main object is ellipse 0.

    Returns (images_u8, main_object) with main_object = per-slice (cx, cy, rx, ry) in pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    k = 6
    centers = rng.uniform(0.25, 0.75, size=(k, 2))
    centers[0] = (0.5, 0.45)
    radii = rng.uniform(0.06, 0.2, size=(k, 2))
    radii[0] = (0.2, 0.15)
    drift = rng.uniform(-0.02, 0.02, size=(k, 2))
    colors = rng.uniform(0.2, 1.0, size=(k, 3))
    colors[0] = (0.95, 0.85, 0.8)
    grad = rng.uniform(-0.3, 0.3, size=(3, 2))
    images = np.zeros((n, 3, size, size), dtype=np.float64)
    main = []
    for z in range(n):
        img = 0.15 + grad[:, 0, None, None] * xx + grad[:, 1, None, None] * yy
        img = np.broadcast_to(img, (3, size, size)).copy()
        for i in range(k):
            cx, cy = centers[i] + drift[i] * z
            grow = 1.0 + 0.05 * z if i == 0 else 1.0
            rx, ry = radii[i] * grow
            d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
            inside = 1.0 / (1.0 + np.exp(np.minimum((d - 1.0) * 12.0, 50.0)))  # soft edge
            img = img * (1 - inside) + colors[i][:, None, None] * inside
            if i == 0:
                main.append((cx * size, cy * size, rx * size, ry * size))
        texture = 0.03 * np.sin(2 * np.pi * (3 * xx + 2 * yy + 0.1 * z))
        images[z] = img + texture
    images_u8 = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(images_u8), main


def preprocess(images_u8):
    """SAM-2's frame preprocessing (sam2/utils/misc.py load_video_frames_from_jpg_images) for
    frames already at image_size: /255, then (x - img_mean) / img_std per channel."""
    x = images_u8.float() / 255.0
    mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
    x -= mean
    x /= std
    return x


def init_state_from_tensors(predictor, images_norm):
    """The official `SAM2VideoPredictor.init_state`, with its frame loader replaced by the
    already-preprocessed frames (its JPEG/MP4 loader would do the same /255 + mean/std)."""
    import sam2.sam2_video_predictor as svp

    size = images_norm.shape[-1]
    original = svp.load_video_frames

    def from_memory(video_path, image_size, **_kw):
        assert image_size == size
        return images_norm.clone(), size, size

    svp.load_video_frames = from_memory
    try:
        return predictor.init_state(video_path="<in-memory>")
    finally:
        svp.load_video_frames = original


# ---- fixture sets that reuse the committed micro weights (micro-long, micro-preprocess) ----

FIXTURES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def fixture_out_dir(doc, default_name):
    """Parses `--out DIR` (default fixtures/<default_name>/), creates it, returns it."""
    import argparse

    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--out", default=os.path.join(FIXTURES_DIR, default_name))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    return out


def micro_with_committed_weights(seed):
    """The micro model with `fixtures/micro/weights.pt` loaded strictly (2 threads, seeded)."""
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    model, _ = build_model("micro")
    weights = os.path.join(FIXTURES_DIR, "micro", "weights.pt")
    state_dict = torch.load(weights, map_location="cpu", weights_only=True)["model"]
    model.load_state_dict(state_dict, strict=True)
    return model


def save_fixture(out, name, tensors, meta):
    """Writes out/{tensors.safetensors, meta.json} and says what was written."""
    import json

    from safetensors.torch import save_file

    save_file(tensors, os.path.join(out, "tensors.safetensors"))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"[fixtures] {name}: {len(tensors)} tensors, {total / 1e6:.2f} MB in {out}")
