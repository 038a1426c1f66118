#!/usr/bin/env python3
"""quantc's `--format onnx` folders run by onnxruntime-node and transformers.js, against goldens and
quantc's own runner.

For each fixture (tiny-qwen2, tiny-llama, tiny-deepseek-v3: MLA + MoE as plain ops), `quantc convert --format onnx` writes fp32, fp16,
q4 and q4f16 models (q4: int4 symmetric, block 32; MatMulNBits accuracy level 0, exact). Checked:
  - onnxruntime-node: model.onnx's logits for the golden prompts within 1e-3 of the goldens
    transformers computed in fp32, as one prefill and as a prefill plus token-by-token decoding
    through the KV cache (tools/validators/onnx_logits.mjs);
  - transformers.js loads every dtype offline from the folder (transformers_js_run.mjs);
  - fp32: its greedy continuation of each of three prompts (32 new tokens) equals quantc's runner's;
  - q4: teacher-forced over the first 256 tokens of valid.txt, its top-1 equals quantc's runner's on
    the same int4-g32 weights (`--format safetensors --type int4-g32`, compressed-tensors) at every
    position where quantc's top-2 margin exceeds MARGIN;
  - fp16 and q4f16 (half-precision activations, no exact counterpart in the runner): top-1 equal at
    >= MIN_AGREEMENT of the positions;
  - `quantc validate` over 1024 tokens of valid.txt with onnxruntime-node serving model.onnx and
    model_q4.onnx (window_logits.mjs): fp32 mean KLD < 1e-6 against the BF16 checkpoint, and q4's
    PPL within 0.1% and mean KLD within 2% of quantc's runner on the same int4-g32 weights.
Usage: check_onnx.py QUANTC TESTDATA WORKDIR [MODEL ...]. Exits 77 (ctest: skipped) only when node
or the npm packages are missing.
"""
import json
import os
import shutil
import subprocess
import sys

MARGIN = 0.05
MIN_AGREEMENT = 0.95
POSITIONS = 256
PROMPTS = ["The cat sat on the", "Once upon a time, there was", "In 1990, the city"]
DTYPES = ["fp32", "fp16", "q4", "q4f16"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def agreement(ours, theirs):
    same = sum(a == b for a, b in zip(ours["top1"], theirs["top1"]))
    strict = [i for i, (a, b, m) in enumerate(zip(ours["top1"], theirs["top1"], ours["margin"])) if m > MARGIN and a != b]
    return same / len(ours["top1"]), strict


def main():
    quantc, testdata, work = sys.argv[1:4]
    models = sys.argv[4:] or ["tiny-qwen2", "tiny-llama", "tiny-deepseek-v3"]
    if shutil.which("node") is None or not os.path.isdir(os.path.join(HERE, "node_modules", "@huggingface", "transformers")):
        print("node or @huggingface/transformers missing (run tools/test.sh once): skipped")
        return 77
    os.makedirs(work, exist_ok=True)
    text = os.path.join(testdata, "valid.txt")
    prompts_path = os.path.join(work, "prompts.json")
    json.dump(PROMPTS, open(prompts_path, "w"))
    failures = []
    for model in models:
        src = os.path.join(testdata, model + "-bf16")
        folder = os.path.join(work, model + "-onnx")
        run([quantc, "--quiet", "convert", src, "-o", folder, "--format", "onnx", "--accuracy-level", "0", "--force"])
        golden = os.path.join(src, "golden.safetensors")
        for extra in ([], ["--split", "48"]):
            r = subprocess.run(["node", os.path.join(HERE, "onnx_logits.mjs"), os.path.join(folder, "onnx", "model.onnx"), golden,
                                "--tol", "1e-3"] + extra, capture_output=True, text=True)
            print(f"{model} onnxruntime-node fp32 {'decode' if extra else 'prefill'}: {r.stdout.strip() or r.stderr.strip()}")
            if r.returncode != 0:
                failures.append(f"{model}: onnxruntime-node logits vs golden ({'decode' if extra else 'prefill'})")

        # quantc's side: the float runner, and the runner on the same int4-g32 weights.
        int4 = os.path.join(work, model + "-int4-g32")
        run([quantc, "--quiet", "convert", src, "-o", int4, "--type", "int4-g32", "--force"])
        ours = {}
        for name, path in (("float", src), ("int4", int4)):
            out = os.path.join(work, f"{model}-{name}.quantc.json")
            run([quantc, "--quiet", "logits", path, "--text", text, "--tokenizer", src, "--positions", str(POSITIONS),
                 "--greedy", "1", "-o", out])
            ours[name] = json.load(open(out))
        greedy = {name: [[int(t) for t in run([quantc, "--quiet", "run", path, "--tokenizer", src, "-p", p, "-n", "32", "--ids"]).split()]
                         for p in PROMPTS]
                  for name, path in (("float", src), ("int4", int4))}
        report = os.path.join(work, f"{model}.validate.json")
        v = subprocess.run([quantc, "--quiet", "validate", src, os.path.join(folder, "onnx", "model.onnx"),
                            os.path.join(folder, "onnx", "model_q4.onnx"), int4, "--text", text, "--max-tokens", "1024", "--json", report],
                           capture_output=True, text=True)
        if v.returncode != 0:
            failures.append(f"{model}: validate: {v.stderr.strip()[-400:]}")
        else:
            fp32, q4, runner_int4 = json.load(open(report))["rows"]
            print(f"{model} validate: fp32 (onnxruntime) KLD {fp32['kld_mean']:.2e}; q4 PPL {q4['ppl']:.4f} (onnxruntime) / "
                  f"{runner_int4['ppl']:.4f} (runner), KLD {q4['kld_mean']:.5f} / {runner_int4['kld_mean']:.5f}")
            if fp32["kld_mean"] > 1e-6:
                failures.append(f"{model}: validate: onnxruntime fp32 mean KLD {fp32['kld_mean']}")
            if abs(q4["ppl"] / runner_int4["ppl"] - 1) > 1e-3 or abs(q4["kld_mean"] / runner_int4["kld_mean"] - 1) > 0.02:
                failures.append(f"{model}: validate: onnxruntime q4 and the runner's int4-g32 disagree")
        ids_path = os.path.join(work, f"{model}.ids.json")
        json.dump(ours["float"]["ids"], open(ids_path, "w"))

        result_path = os.path.join(work, f"{model}.transformers_js.json")
        r = subprocess.run(["node", os.path.join(HERE, "transformers_js_run.mjs"), folder, "--dtypes", ",".join(DTYPES), "--prompts",
                            prompts_path, "--ids", ids_path, "--positions", str(POSITIONS), "--new-tokens", "32", "--out",
                            result_path], capture_output=True, text=True)
        if not os.path.exists(result_path):
            failures.append(f"{model}: transformers.js produced no results: {r.stderr.strip()[-500:]}")
            continue
        tjs = json.load(open(result_path))
        for dtype in DTYPES:
            res = tjs.get(dtype, {"error": "not run"})
            if "error" in res:
                failures.append(f"{model} {dtype}: transformers.js did not run it: {res['error']}")
                continue
            kind = "int4" if dtype.startswith("q4") else "float"
            agree, strict = agreement(ours[kind], res)
            greedy_equal = sum(a == b for a, b in zip(greedy[kind], res["greedy"]))
            print(f"{model} transformers.js {dtype}: top-1 agreement {agree:.2%} over {POSITIONS} positions "
                  f"(differences where quantc's margin > {MARGIN}: {len(strict)}); greedy equal to quantc's runner "
                  f"({kind}) on {greedy_equal}/{len(PROMPTS)} prompts")
            if dtype == "fp32" and greedy_equal != len(PROMPTS):
                failures.append(f"{model} fp32: greedy continuation differs from quantc's: {res['greedy']} vs {greedy[kind]}")
            if dtype in ("fp32", "q4") and strict:
                failures.append(f"{model} {dtype}: top-1 differs at positions {strict[:10]} where quantc's margin > {MARGIN}")
            if agree < MIN_AGREEMENT:
                failures.append(f"{model} {dtype}: top-1 agreement {agree:.2%} < {MIN_AGREEMENT:.0%}")
    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
