#!/usr/bin/env python3
"""DeepSeek's own engine (DeepSeek-V3 inference/model.py, launched with torchrun over NCCL) on
quantc's model-parallel shards, compared with the transformers goldens.

Run on the device machine with one process per GPU, from the repository root:
  torchrun --nproc-per-node N tools/deepseek_engine/run_engine.py --inference DIR --shards DIR \
      --config testdata/tiny-deepseek-v3-bf16/config.json \
      --golden testdata/tiny-deepseek-v3-bf16/golden.safetensors --dtype fp32 --out OUT.json
DIR (--inference) is a copy of DeepSeek-V3's inference/ folder (never committed) with the two
one-line changes stated in docs/validation.md: Gate creates its correction bias for sigmoid
scoring (not only when dim == 7168), and Linear follows torch's default dtype instead of bf16.

The demo config is made from the checkpoint's config.json with yarn off (rope_factor 1,
original_seq_len = max_seq_len). For prefixes of each golden prompt the engine's last-position
logits are compared with the golden logits at that position: top-1 and the largest absolute
difference relative to the row's largest |logit|. Rank 0 writes the figures as JSON.
"""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
from safetensors.torch import load_file, load_model


def demo_args(config, max_seq_len, dtype):
    c = config
    rope = c.get("rope_parameters") or {}
    return dict(
        max_batch_size=8, max_seq_len=max_seq_len, dtype=dtype, vocab_size=c["vocab_size"], dim=c["hidden_size"],
        inter_dim=c["intermediate_size"], moe_inter_dim=c["moe_intermediate_size"], n_layers=c["num_hidden_layers"],
        n_dense_layers=c["first_k_dense_replace"], n_heads=c["num_attention_heads"],
        n_routed_experts=c["n_routed_experts"], n_shared_experts=c["n_shared_experts"],
        n_activated_experts=c["num_experts_per_tok"], n_expert_groups=c["n_group"], n_limited_groups=c["topk_group"],
        score_func=c.get("scoring_func", "sigmoid"), route_scale=c["routed_scaling_factor"],
        q_lora_rank=c["q_lora_rank"], kv_lora_rank=c["kv_lora_rank"], qk_nope_head_dim=c["qk_nope_head_dim"],
        qk_rope_head_dim=c["qk_rope_head_dim"], v_head_dim=c["v_head_dim"],
        rope_theta=rope.get("rope_theta", c.get("rope_theta", 10000.0)),
        rope_factor=1, original_seq_len=max_seq_len)  # yarn off


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--inference", required=True)
    p.add_argument("--shards", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--golden", required=True)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--prefixes", default="8,16,32,48,64")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1:
        dist.init_process_group("nccl")
    torch.cuda.set_device(local)
    torch.set_default_dtype(torch.float32 if a.dtype == "fp32" else torch.bfloat16)
    torch.set_default_device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sys.path.insert(0, a.inference)
    import model as ds  # DeepSeek's inference/model.py

    config = json.load(open(a.config))
    golden = load_file(a.golden)
    ids, want = golden["input_ids"].long(), golden["logits"].float()
    prefixes = [int(x) for x in a.prefixes.split(",")]
    args = ds.ModelArgs(**demo_args(config, max(prefixes), "bf16"))
    net = ds.Transformer(args)
    load_model(net, os.path.join(a.shards, f"model{rank}-mp{world}.safetensors"), strict=True)
    rows = []
    for L in prefixes:
        logits = net(ids[:, :L].cuda(), 0).float().cpu()
        for b in range(ids.shape[0]):
            g = want[b, L - 1]
            diff = (logits[b] - g).abs().max().item()
            rows.append(dict(prompt=b, prefix=L, top1_engine=int(logits[b].argmax()), top1_golden=int(g.argmax()),
                             max_abs_diff=diff, max_rel_diff=diff / g.abs().max().item()))
    if rank == 0:
        result = dict(ranks=world, dtype=a.dtype, rows=rows,
                      top1_equal=sum(r["top1_engine"] == r["top1_golden"] for r in rows), positions=len(rows),
                      max_rel_diff=max(r["max_rel_diff"] for r in rows),
                      max_abs_diff=max(r["max_abs_diff"] for r in rows))
        json.dump(result, open(a.out, "w"), indent=1)
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
