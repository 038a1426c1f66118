#!/usr/bin/env python3
"""Makes testdata/tiny-deepseek-v3-fp4: tiny-deepseek-v3-bf16 in DeepSeek-V4's tensor encoding, and
its golden logits computed by Hugging Face transformers (not by quantc).

Encoding (/work/shared/specs/deepseek-checkpoints.md §6.3-6.4, DeepSeek-V4 inference/convert.py and
kernel.py):
  * routed experts (mlp.experts.E.{gate,up,down}_proj.weight): FP4 E2M1 codes, two per byte along
    the input dim (element 2j in the low nibble), stored as I8 [out, in/2]; `<base>.scale` F8_E8M0
    [out, in/32], one power of two per 32 inputs, chosen by DeepSeek's QAT rule
    s = 2^ceil(log2(max(amax, 6*2^-126) / 6)) (nothing clips), codes the nearest E2M1 value of x/s.
  * every other linear weight the -fp8 fixture quantizes: F8_E4M3 with `<base>.scale` F8_E8M0 per
    128x128 block, s = 2^ceil(log2(max(amax, 1e-4) / 448)) (V4's power-of-two FP8 scales).
  * the rest (embeddings, lm_head, norms, router) unchanged BF16.
config.json keeps V4's quantization_config, which names block FP8 only: FP4 is told by dtypes.

The golden: every weight dequantized here in float32 (code value x 2^(byte-127)), loaded into
DeepseekV3ForCausalLM in float32 on the CPU, run on tiny-deepseek-v3-bf16's golden input_ids.

Usage: make_fp4_fixture.py SRC_BF16_FOLDER OUT_FOLDER   (torch, safetensors, transformers)
"""
import json
import math
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float32)
EXPERT = re.compile(r"\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$")
FP8 = re.compile(r"\.(self_attn\.(q_a_proj|q_b_proj|kv_a_proj_with_mqa|kv_b_proj|o_proj)|"
                 r"mlp\.(shared_experts\.)?(gate|up|down)_proj)\.weight$")


def e2m1_codes(v):
    """Nearest E2M1 code of each value of v (|v| <= 6), ties to the even code (round half to even),
    the sign bit copied from v (so -0.1 becomes -0, code 8, as PyTorch's and the GPU's casts do)."""
    mags = E2M1[:8]
    a = np.abs(v)
    dist = np.abs(a[..., None] - mags)  # [..., 8]
    best = dist.min(axis=-1, keepdims=True)
    ties = dist == best
    # among tied magnitudes prefer the even code (its mantissa bit is 0)
    even = np.where(ties & (np.arange(8) % 2 == 0), 1, 0)
    code = np.where(even.any(axis=-1), np.argmax(even, axis=-1), np.argmax(ties, axis=-1))
    sign = np.signbit(v).astype(np.uint8) << 3  # a negative value rounding to zero keeps its sign (-0), as casts do
    return code.astype(np.uint8) | sign


def quant_fp4(w):
    out, cols = w.shape
    g = w.reshape(out, cols // 32, 32).astype(np.float32)
    amax = np.maximum(np.abs(g).max(axis=-1), np.float32(6 * 2.0 ** -126))
    exp = np.array([math.ceil(math.log2(float(a) / 6)) for a in amax.ravel()], dtype=np.int32).reshape(amax.shape)
    # exact ceil: math.log2 of a double is exact at powers of two
    scale = np.ldexp(np.float32(1), exp).astype(np.float32)
    q = e2m1_codes(np.clip(g / scale[..., None], -6, 6)).reshape(out, cols)
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)
    return packed, (exp + 127).astype(np.uint8)


def dequant_fp4(packed, scale_bytes):
    codes = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(packed.shape[0], -1)
    v = E2M1[codes].reshape(packed.shape[0], -1, 32)
    return (v * np.ldexp(np.float32(1), scale_bytes.astype(np.int32) - 127)[..., None]).reshape(packed.shape[0], -1)


def quant_fp8(w):
    t = torch.from_numpy(w.astype(np.float32))
    rows, cols = t.shape
    br, bc = math.ceil(rows / 128), math.ceil(cols / 128)
    q = torch.empty(rows, cols, dtype=torch.float8_e4m3fn)
    exps = np.zeros((br, bc), dtype=np.int32)
    for i in range(br):
        for j in range(bc):
            blk = t[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            amax = max(float(blk.abs().max()), 1e-4)
            e = math.ceil(math.log2(amax / 448))
            exps[i, j] = e
            q[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = (blk / 2.0 ** e).to(torch.float8_e4m3fn)
    return q.view(torch.uint8).numpy(), (exps + 127).astype(np.uint8)


def dequant_fp8(q, scale_bytes):
    v = torch.from_numpy(q).view(torch.float8_e4m3fn).float().numpy()
    s = np.ldexp(np.float32(1), scale_bytes.astype(np.int32) - 127)
    s = np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[: v.shape[0], : v.shape[1]]
    return v * s


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, shape, bytes), written by the safetensors library itself (its
    own tensor order and header padding), as a real checkpoint would be."""
    torch_dtypes = {"I8": torch.int8, "F8_E8M0": torch.float8_e8m0fnu, "F8_E4M3": torch.float8_e4m3fn,
                    "BF16": torch.bfloat16}
    out = {}
    for name, (dtype, shape, data) in tensors.items():
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        out[name] = raw.view(torch_dtypes[dtype]).reshape(tuple(shape))
    save_file(out, path, metadata={"format": "pt"})


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    weights = load_file(os.path.join(src, "model.safetensors"))
    stored, dense = {}, {}
    counts = {"fp4": 0, "fp8": 0, "bf16": 0}
    for name, t in weights.items():
        w = t.float().numpy()
        base = name[: -len(".weight")]
        if EXPERT.search(name):
            packed, sb = quant_fp4(w)
            stored[name] = ("I8", packed.shape, packed.tobytes())
            stored[base + ".scale"] = ("F8_E8M0", sb.shape, sb.tobytes())
            dense[name] = dequant_fp4(packed, sb)
            counts["fp4"] += 1
        elif FP8.search(name):
            q, sb = quant_fp8(w)
            stored[name] = ("F8_E4M3", q.shape, q.tobytes())
            stored[base + ".scale"] = ("F8_E8M0", sb.shape, sb.tobytes())
            dense[name] = dequant_fp8(q, sb)
            counts["fp8"] += 1
        else:
            stored[name] = ("BF16", tuple(t.shape), t.contiguous().view(torch.int16).numpy().tobytes())
            dense[name] = w
            counts["bf16"] += 1
    write_safetensors(os.path.join(out, "model.safetensors"), stored)
    config = json.load(open(os.path.join(src, "config.json")))
    config["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                     "scale_fmt": "ue8m0", "weight_block_size": [128, 128]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for extra in ("generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, extra), os.path.join(out, extra))

    # Golden: transformers on the dequantized weights, float32, CPU.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # Saved as an F32 Hugging Face folder so from_pretrained applies its own weight conversions
    # (transformers 5 fuses the experts into gate_up_proj / down_proj).
    dense_dir = tempfile.mkdtemp()
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)).float() for k, v in dense.items()},
              os.path.join(dense_dir, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(src, "config.json"), os.path.join(dense_dir, "config.json"))
    model, info = transformers.AutoModelForCausalLM.from_pretrained(dense_dir, dtype=torch.float32,
                                                                    output_loading_info=True)
    if any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")):
        sys.exit(f"loading the dequantized weights: {info}")
    model.eval()
    ids = load_file(os.path.join(src, "golden.safetensors"))["input_ids"]
    with torch.no_grad():
        res = model(ids.long(), output_hidden_states=True)
    golden = {"input_ids": ids, "logits": res.logits.float().contiguous()}
    for i, h in enumerate(res.hidden_states):
        golden[f"hidden_states.{i}"] = h.float().contiguous()
    save_file(golden, os.path.join(out, "golden.safetensors"))
    ref = load_file(os.path.join(src, "golden.safetensors"))["logits"]
    rel = float((res.logits - ref).norm() / ref.norm())
    print(f"tensors {counts}; golden logits vs bf16 golden: relative {rel:.4f}; "
          f"transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
