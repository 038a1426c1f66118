#!/usr/bin/env python3
"""The published GPTQ (IST-DASLab/gptq: its GPTQ class and Quantizer, llama.py's sequential protocol)
run on the fixtures with quantc's calibration and evaluation protocol, as a reference for quantc's
own GPTQ. Needs a GPU, PyTorch and transformers (5.x); gptq.py/quant.py come from prepare.sh.

Calibration: testdata/calib.txt tokenized with the model's tokenizer.json, cut into non-overlapping
512-token windows from the start, the first 128 (65,536 tokens), as quantc calibrates.
Quantization: int4 symmetric (quant.py Quantizer, sym=True, perchannel=True, no MSE clip) of every
q/k/v/o/gate/up/down Linear (not lm_head, not embeddings), on the GPU in fp32 with TF32 off:
  rtn-pc, rtn-g128        round to nearest, one scale per row / per 128 columns (act-order does
                          not apply: RTN is order-free);
  gptq-pc, gptq-pc-act    GPTQ per channel (groupsize -1), act-order off / on;
  gptq-g128               GPTQ group 128, act-order off (groups refit on the updated weights);
  gptq-g128-act           GPTQ group 128, act-order on with static_groups=True.
GPTQ follows llama.py --true-sequential: layers in order, inputs of layer i from the quantized
layers before it, inside a layer [k,v,q] -> [o] -> [up,gate] -> [down] with Hessians re-collected
after each step, batch 1 per calibration window, percdamp 0.01, blocksize 128.
Evaluation (lib/runner/eval.cc): the first 65,536 tokens of testdata/valid.txt, windows of 512
starting at 0, 512, ... while start < N - 512 (127), each from an empty cache, NLL over positions
1..511, PPL = exp(mean NLL); KLD(ref || model) per scored position (log-softmax in float64, a
negative sum clamped to 0), averaged over the scored positions; top-1 agreement of the argmaxes.
The reference is the same model unquantized (fp32 compute of its BF16 weights).
Models: tiny-qwen2-bf16, tiny-llama-bf16, and tiny-qwen2-outliers: tiny-qwen2 with channels
c_k = floor((2k+1)*hidden/16), k < 8, x20 in every RMSNorm weight and /20 in the input columns of
the linears reading it (q/k/v, gate/up, lm_head), the rule of quantc's inject-outliers pass.

usage: run_reference.py [--repo .] [--ext build-ext/reference_gptq] [--out DIR]
                        [--models a,b] [--methods m1,m2]
Writes DIR/reference_gptq.json, DIR/reference_gptq.md and DIR/gptq_log.txt (the GPTQ class's prints).
"""
import argparse
import contextlib
import json
import math
import os
import pathlib
import sys
import time
import traceback

import torch
import torch.nn as nn

CTX = 512
EVAL_TOKENS = 65536
CALIB_WINDOWS = 128
README_PPL = {"tiny-qwen2-bf16": 20.1246, "tiny-llama-bf16": 19.1229}  # testdata fixtures README
PARITY_TOL = 1e-3
OUTLIER_CHANNELS, OUTLIER_FACTOR = 8, 20.0
SEQUENTIAL = [["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj"], ["self_attn.o_proj"],
              ["mlp.up_proj", "mlp.gate_proj"], ["mlp.down_proj"]]
METHODS = {  # name -> (kind, groupsize, act_order, static_groups)
    "rtn-pc": ("rtn", -1, False, False),
    "rtn-g128": ("rtn", 128, False, False),
    "gptq-pc": ("gptq", -1, False, False),
    "gptq-pc-act": ("gptq", -1, True, False),
    "gptq-g128": ("gptq", 128, False, False),
    "gptq-g128-act": ("gptq", 128, True, True),
}
MODELS = ["tiny-qwen2-bf16", "tiny-llama-bf16", "tiny-qwen2-outliers"]


def setup(ext):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    import transformers
    if not hasattr(transformers, "Conv1D"):  # gptq.py tests isinstance(layer, transformers.Conv1D)
        from transformers import pytorch_utils
        transformers.Conv1D = pytorch_utils.Conv1D
    sys.path.insert(0, str(ext))
    with contextlib.redirect_stdout(sys.stderr):  # quant.py prints a note about its CUDA extension
        import gptq as gptq_mod
        import quant as quant_mod
    return gptq_mod, quant_mod


def model_dir(repo, name):
    return repo / "testdata" / ("tiny-qwen2-bf16" if name == "tiny-qwen2-outliers" else name)


def tokenize(repo, name, ext, checks):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir(repo, name) / "tokenizer.json"))
    enc = lambda text: tok.encode(text, add_special_tokens=False).ids
    quantc_ids = json.loads((ext / "quantc_ids.json").read_text())
    for part in ("valid", "calib"):
        ours = enc((ext / f"sample_{part}.txt").read_bytes().decode("utf-8"))
        same = ours == quantc_ids[part]
        checks.append({"check": f"{name}: tokenizer ids == quantc's on the first 8 KB of {part}.txt",
                       "ours": len(ours), "quantc": len(quantc_ids[part]), "ok": same})
        if not same:
            raise RuntimeError(f"tokenizer differs from quantc's on sample_{part}.txt ({len(ours)} vs {len(quantc_ids[part])} ids)")
    valid = enc((repo / "testdata/valid.txt").read_bytes().decode("utf-8"))  # bytes as quantc reads them
    calib = enc((repo / "testdata/calib.txt").read_bytes().decode("utf-8"))
    if len(valid) < EVAL_TOKENS or len(calib) < CALIB_WINDOWS * CTX:
        raise RuntimeError(f"too few tokens: valid {len(valid)}, calib {len(calib)}")
    return torch.tensor(valid[:EVAL_TOKENS]), torch.tensor(calib[:CALIB_WINDOWS * CTX]).view(CALIB_WINDOWS, CTX)


def v_hidden(repo, name):
    return json.loads((model_dir(repo, name) / "config.json").read_text())["hidden_size"]


def outlier_channels(hidden):
    return [(2 * k + 1) * hidden // (2 * OUTLIER_CHANNELS) for k in range(OUTLIER_CHANNELS)]


@torch.no_grad()
def inject_outliers(model):
    c = torch.tensor(outlier_channels(model.config.hidden_size), device=model.device)
    inv = torch.tensor(1.0 / OUTLIER_FACTOR, dtype=torch.float32)  # as the pass: w · float(1/F)
    if model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr():  # untie
        model.lm_head.weight = nn.Parameter(model.model.embed_tokens.weight.detach().clone())
        model.config.tie_word_embeddings = False
    def scale(norm, linears):
        norm.weight[c] *= OUTLIER_FACTOR
        for lin in linears:
            lin.weight[:, c] *= inv.to(lin.weight.device)
    for layer in model.model.layers:
        a, m = layer.self_attn, layer.mlp
        scale(layer.input_layernorm, [a.q_proj, a.k_proj, a.v_proj])
        scale(layer.post_attention_layernorm, [m.gate_proj, m.up_proj])
    scale(model.model.norm, [model.lm_head])


def load(repo, name):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(model_dir(repo, name)), dtype=torch.float32,
                                                 attn_implementation="eager").cuda().eval()
    model.config.use_cache = False
    if name == "tiny-qwen2-outliers":
        inject_outliers(model)
    return model


@torch.no_grad()
def window_logits(model, ids, batch=32):
    """Yields fp32 logits [b, CTX, vocab] for the eval windows, in order."""
    n = ids.numel()
    starts = list(range(0, n - CTX, CTX))  # start < N - ctx
    for i in range(0, len(starts), batch):
        x = torch.stack([ids[s:s + CTX] for s in starts[i:i + batch]]).cuda()
        yield x, model(input_ids=x, use_cache=False).logits.float()


@torch.no_grad()
def evaluate(model, ids, ref=None):
    """PPL over the eval windows; with `ref` (a list of the reference's logits per batch) KLD/top-1."""
    nll, tokens, kld, top1, windows, logits_out = 0.0, 0, 0.0, 0, 0, []
    for b, (x, logits) in enumerate(window_logits(model, ids)):
        lq = torch.log_softmax(logits[:, :-1].double(), dim=-1)  # position t-1 predicts token t
        nll -= lq.gather(-1, x[:, 1:, None]).sum().item()
        tokens += x.shape[0] * (CTX - 1)
        windows += x.shape[0]
        if ref is None:
            logits_out.append(logits)
            continue
        lp = torch.log_softmax(ref[b][:, :-1].double(), dim=-1)
        kld += (lp.exp() * (lp - lq)).sum(-1).clamp_min(0).sum().item()
        top1 += (lp.argmax(-1) == lq.argmax(-1)).sum().item()
    assert windows == 127 and tokens == 64897, (windows, tokens)
    r = {"ppl": math.exp(nll / tokens), "tokens": tokens, "windows": windows}
    if ref is not None:
        r.update(kld_mean=kld / tokens, top1=top1 / tokens)
    return r, logits_out


def linears(layer):
    return {n: m for n, m in layer.named_modules() if isinstance(m, nn.Linear)}


@torch.no_grad()
def quantize_rtn(model, quant_mod, groupsize):
    for layer in model.model.layers:
        for lin in linears(layer).values():
            w = lin.weight.data
            q = quant_mod.Quantizer()
            q.configure(4, perchannel=True, sym=True, mse=False)
            g = w.shape[1] if groupsize == -1 else groupsize
            for i in range(0, w.shape[1], g):
                q.find_params(w[:, i:i + g], weight=True)
                w[:, i:i + g] = quant_mod.quantize(w[:, i:i + g], q.scale, q.zero, q.maxq)


@torch.no_grad()
def quantize_gptq(model, calib, gptq_mod, quant_mod, groupsize, act_order, static_groups, log):
    """llama.py's llama_sequential (--true-sequential), the whole tiny model kept on the GPU."""
    layers = model.model.layers
    inps = torch.zeros((CALIB_WINDOWS, CTX, model.config.hidden_size), device="cuda")
    cache = {"i": 0, "args": (), "kwargs": None}

    def catch(*args, **kwargs):  # llama.py's Catcher, as a forward override (the layer keeps its attributes)
        hidden = args[0] if args else kwargs["hidden_states"]
        inps[cache["i"]] = hidden[0]
        cache["i"] += 1
        cache["args"] = tuple(args[1:])
        cache["kwargs"] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        raise ValueError
    layers[0].forward = catch
    for j in range(CALIB_WINDOWS):
        try:
            model(input_ids=calib[j:j + 1].cuda(), use_cache=False)
        except ValueError:
            pass
    del layers[0].forward
    assert cache["i"] == CALIB_WINDOWS
    args, kwargs = cache["args"], cache["kwargs"]
    outs = torch.zeros_like(inps)

    def run_layer(layer, j):
        out = layer(inps[j].unsqueeze(0), *args, **kwargs)
        return out[0] if isinstance(out, (tuple, list)) else out

    for i, layer in enumerate(layers):
        full = linears(layer)
        for names in SEQUENTIAL:
            subset = {n: full[n] for n in names}
            gptq = {}
            for name in subset:
                gptq[name] = gptq_mod.GPTQ(subset[name])
                gptq[name].quantizer = quant_mod.Quantizer()
                gptq[name].quantizer.configure(4, perchannel=True, sym=True, mse=False)

            def add_batch(name):
                def tmp(_, inp, out):
                    gptq[name].add_batch(inp[0].data, out.data)
                return tmp
            handles = [subset[n].register_forward_hook(add_batch(n)) for n in subset]
            for j in range(CALIB_WINDOWS):
                outs[j] = run_layer(layer, j)[0]
            for h in handles:
                h.remove()
            for name in subset:
                print(i, name, file=log)
                with contextlib.redirect_stdout(log):
                    gptq[name].fasterquant(percdamp=0.01, blocksize=128, groupsize=groupsize,
                                           actorder=act_order, static_groups=static_groups)
                gptq[name].free()
        for j in range(CALIB_WINDOWS):
            outs[j] = run_layer(layer, j)[0]
        inps, outs = outs, inps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=".")
    ap.add_argument("--ext", default="build-ext/reference_gptq")
    ap.add_argument("--out", default=os.environ.get("OUT", "reference_gptq_out"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--methods", default=",".join(METHODS))
    a = ap.parse_args()
    repo, ext, out = pathlib.Path(a.repo), pathlib.Path(a.ext), pathlib.Path(a.out)
    names = [n for n in a.models.split(",") if n]
    methods = [m for m in a.methods.split(",") if m]  # --methods '': the unquantized rows and checks only
    for n in names:
        if n not in MODELS: ap.error(f"unknown model '{n}' (known: {', '.join(MODELS)})")
    for m in methods:
        if m not in METHODS: ap.error(f"unknown method '{m}' (known: {', '.join(METHODS)})")
    out.mkdir(parents=True, exist_ok=True)
    gptq_mod, quant_mod = setup(ext)
    import transformers
    env = {"torch": torch.__version__, "transformers": transformers.__version__,
           "device": torch.cuda.get_device_name(0), "gptq": (ext / "SOURCE.txt").read_text().strip()}
    print(json.dumps(env), flush=True)
    checks, rows, failures = [], [], 0
    log = open(out / "gptq_log.txt", "w")
    data, refs, bases = {}, {}, {}
    # Phase 1, before any quantization: tokenizer and protocol parity, the unquantized references.
    for name in names:
        t0 = time.time()
        data[name] = tokenize(repo, name, ext, checks)
        valid = data[name][0]
        model = load(repo, name)
        bases[name], refs[name] = evaluate(model, valid)
        del model
        base = bases[name]
        rows.append({"model": name, "method": "unquantized", **base, "delta_ppl_pct": 0.0, "kld_mean": 0.0, "top1": 1.0,
                     "seconds": time.time() - t0})
        print(f"{name} unquantized: ppl {base['ppl']:.4f}", flush=True)
        if name in README_PPL:
            rel = abs(base["ppl"] - README_PPL[name]) / README_PPL[name]
            ok = rel <= PARITY_TOL
            failures += not ok
            checks.append({"check": f"{name}: unquantized PPL vs fixtures README {README_PPL[name]} (within {PARITY_TOL:g})",
                           "ppl": round(base["ppl"], 5), "rel": f"{rel:.2e}", "ok": ok})
        if name == "tiny-qwen2-outliers":  # function-identical to tiny-qwen2
            orig = load(repo, "tiny-qwen2-bf16")
            o, orig_logits = evaluate(orig, valid)
            del orig
            v = load(repo, name)
            vs, _ = evaluate(v, valid, ref=orig_logits)
            del v, orig_logits
            rel = abs(base["ppl"] - o["ppl"]) / o["ppl"]
            ok = rel <= 1e-4
            failures += not ok
            checks.append({"check": "tiny-qwen2-outliers: unquantized PPL vs tiny-qwen2's (within 0.01%)",
                           "channels": outlier_channels(v_hidden(repo, name)), "ppl": round(base["ppl"], 5),
                           "orig_ppl": round(o["ppl"], 5), "rel": f"{rel:.2e}", "kld_vs_orig": f"{vs['kld_mean']:.2e}",
                           "top1_vs_orig": vs["top1"], "ok": ok})
        print(json.dumps(checks[-1]), flush=True)
    # Phase 2: every method on every model, against that model's unquantized logits.
    for name in names:
        valid, calib = data[name]
        for method in methods:
            kind, g, act, static = METHODS[method]
            t0 = time.time()
            try:
                model = load(repo, name)
                if kind == "rtn":
                    quantize_rtn(model, quant_mod, g)
                else:
                    print(f"== {name} {method}", file=log, flush=True)
                    quantize_gptq(model, calib, gptq_mod, quant_mod, g, act, static, log)
                r, _ = evaluate(model, valid, ref=refs[name])
                del model
                r["delta_ppl_pct"] = 100 * (r["ppl"] / bases[name]["ppl"] - 1)
                rows.append({"model": name, "method": method, **r, "seconds": time.time() - t0})
                print(f"{name} {method}: ppl {r['ppl']:.4f} ({r['delta_ppl_pct']:+.2f}%) kld {r['kld_mean']:.5f} "
                      f"top1 {100 * r['top1']:.2f}% [{time.time() - t0:.1f} s]", flush=True)
            except Exception:
                failures += 1
                traceback.print_exc()
                rows.append({"model": name, "method": method, "error": traceback.format_exc(limit=3)})
        del refs[name]
        torch.cuda.empty_cache()
    (out / "reference_gptq.json").write_text(json.dumps({"env": env, "checks": checks, "rows": rows}, indent=1))
    md = ["| model | method | PPL | ΔPPL % | mean KLD | top-1 % |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            md.append(f"| {r['model']} | {r['method']} | error | | | |")
        else:
            md.append(f"| {r['model']} | {r['method']} | {r['ppl']:.4f} | {r['delta_ppl_pct']:+.2f} | "
                      f"{r['kld_mean']:.5f} | {100 * r['top1']:.2f} |")
    md += ["", *[f"- {'ok' if c['ok'] else 'FAIL'}: {c['check']}: "
                 + ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("check", "ok")) for c in checks]]
    (out / "reference_gptq.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
