#!/usr/bin/env python3
"""Golden logits for the model-parallel proof checkpoint (make_synthetic_checkpoint --mp-proof),
computed once by transformers in fp32 on the device machine and committed
(testdata/goldens/mp_proof/golden.safetensors): 2 prompts x 32 token ids.

FP8 weights are dequantized as DeepSeek's fp8_cast_bf16.py does (f32 code x block scale, rounded
to bf16), then run in fp32 by DeepseekV3ForCausalLM with eager attention. The checkpoint's sha256
is recorded so the golden is tied to the exact bytes the C++ generator writes.
  python3 tools/deepseek_engine/golden_mp_proof.py CHECKPOINT_DIR OUT.safetensors
"""
import hashlib
import json
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file
from transformers import DeepseekV3ForCausalLM


def prompts(vocab):
    return torch.tensor([[(37 * t + 11 * p + 5) % vocab for t in range(32)] for p in range(2)], dtype=torch.int64)


def main():
    ckpt, out = sys.argv[1], sys.argv[2]
    config = json.load(open(f"{ckpt}/config.json"))
    path = f"{ckpt}/model-00001-of-00001.safetensors"
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    raw = load_file(path)
    state = {}
    for name, t in raw.items():
        if name.endswith("_scale_inv"):
            continue
        if t.dtype == torch.float8_e4m3fn:
            s = raw[name + "_scale_inv"]
            full = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[: t.shape[0], : t.shape[1]]
            t = (t.float() * full).to(torch.bfloat16)
        state[name] = t.contiguous()
    config.pop("quantization_config", None)
    # A BF16 checkpoint folder, loaded by from_pretrained (which maps per-expert tensors onto the
    # fused expert parameters of transformers 5) in fp32.
    tmp = tempfile.mkdtemp()
    save_file(state, f"{tmp}/model.safetensors", metadata={"format": "pt"})
    json.dump(config, open(f"{tmp}/config.json", "w"))
    model = DeepseekV3ForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager").eval()
    ids = prompts(config["vocab_size"])
    with torch.no_grad():
        logits = model(ids).logits.float()
    save_file({"input_ids": ids.to(torch.int32).contiguous(), "logits": logits.contiguous()}, out,
              metadata={"checkpoint_sha256": digest, "transformers": __import__("transformers").__version__,
                        "producer": "tools/deepseek_engine/golden_mp_proof.py"})
    print(json.dumps({"sha256": digest, "logits_absmax": logits.abs().max().item(),
                      "top1": logits[:, -1].argmax(-1).tolist()}))


if __name__ == "__main__":
    main()
