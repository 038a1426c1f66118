#!/usr/bin/env python3
"""quantc's NPU pipeline (`--format onnx-qdq`) run by onnxruntime-node against quantc's NPU target.

tiny-qwen2 is converted with `--format onnx-qdq --calib calib.txt --accuracy-level 0` and checked:
  - `quantc check-npu` passes the context and iterator models (QNN rules);
  - onnxruntime-node (CPU EP, session.qdq_matmulnbits_accuracy_level=0) runs the four models chained
    by tools/validators/npu_pipeline.mjs over the two golden prompts, a prompt shorter than one chunk
    and one longer than the KV cache (the cache slides), then 8 greedy tokens through the iterator;
  - quantc's `logits --target npu` (lib/runner/npu_pipeline.h: the same graphs in its evaluator)
    gives logits within 1e-2 relative (per position, L2 of the difference over L2 of quantc's
    logits, and max |difference| <= 1e-2 x the largest |logit|), the same top-1 wherever quantc's
    top-2 margin exceeds MARGIN, and the same greedy continuation;
  - `quantc validate` runs the folder both ways (its NPU emulation and onnxruntime-node through
    window_logits.mjs) over 2048 tokens of valid.txt: PPL within 0.2% and mean KLD within 5% of
    each other.
Usage: check_npu.py QUANTC TESTDATA WORKDIR. Exits 77 (ctest: skipped) only when node or the npm
packages are missing.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

MARGIN = 0.05
REL_TOL = 1e-2
HERE = os.path.dirname(os.path.abspath(__file__))


def golden_prompts(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    t = header["input_ids"]
    start, end = t["data_offsets"]
    raw = data[8 + n + start:8 + n + end]
    fmt = {"I32": "i", "I64": "q"}[t["dtype"]]
    ids = list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
    rows, cols = t["shape"]
    return [ids[r * cols:(r + 1) * cols] for r in range(rows)]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    quantc, testdata, work = sys.argv[1:4]
    if shutil.which("node") is None or not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        print("node or onnxruntime-node missing (run tools/test.sh once): skipped")
        return 77
    os.makedirs(work, exist_ok=True)
    src = os.path.join(testdata, "tiny-qwen2-bf16")
    folder = os.path.join(work, "tiny-qwen2-npu")
    run([quantc, "--quiet", "convert", src, "-o", folder, "--format", "onnx-qdq", "--calib", os.path.join(testdata, "calib.txt"),
         "--accuracy-level", "0", "--force"])
    failures = []
    check = subprocess.run([quantc, "check-npu", folder], capture_output=True, text=True)
    print(check.stdout.strip())
    if check.returncode != 0:
        failures.append(f"check-npu: {check.stdout.strip()} {check.stderr.strip()}")

    text_ids = json.loads(run([quantc, "--quiet", "logits", src, "--text", os.path.join(testdata, "valid.txt"), "--positions", "600",
                               "--greedy", "1", "-o", "/dev/stdout"]).splitlines()[0])["ids"]
    cases = [(f"golden prompt {i}", p) for i, p in enumerate(golden_prompts(os.path.join(src, "golden.safetensors")))]
    cases += [("20 tokens (shorter than one chunk)", text_ids[:20]), ("600 tokens (longer than the 512-token cache)", text_ids[:600])]
    for name, ids in cases:
        ids_path = os.path.join(work, "ids.json")
        json.dump(ids, open(ids_path, "w"))
        ours_path, theirs_path = os.path.join(work, "quantc.json"), os.path.join(work, "ort.json")
        run([quantc, "--quiet", "logits", folder, "--target", "npu", "--ids", ids_path, "--positions", str(len(ids)), "--greedy", "8",
             "--full-logits", str(len(ids)), "-o", ours_path])
        r = subprocess.run(["node", os.path.join(HERE, "npu_pipeline.mjs"), folder, "--ids", ids_path, "--greedy", "8", "--full-logits",
                            "--out", theirs_path], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{name}: onnxruntime-node failed: {r.stderr.strip()[-400:]}")
            continue
        ours, theirs = json.load(open(ours_path)), json.load(open(theirs_path))
        worst_rel, worst_abs, biggest = 0.0, 0.0, 0.0
        for a, b in zip(ours["full_logits"], theirs["logits"]):
            diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
            worst_rel = max(worst_rel, diff / max(math.sqrt(sum(x * x for x in a)), 1e-30))
            worst_abs = max(worst_abs, max(abs(x - y) for x, y in zip(a, b)))
            biggest = max(biggest, max(abs(x) for x in a))
        strict = [i for i, (a, b, m) in enumerate(zip(ours["top1"], theirs["top1"], ours["margin"])) if m > MARGIN and a != b]
        agree = sum(a == b for a, b in zip(ours["top1"], theirs["top1"])) / len(ids)
        print(f"{name}: {len(ids)} positions, max relative L2 {worst_rel:.2e}, max |diff| {worst_abs:.4f} (largest |logit| "
              f"{biggest:.2f}), top-1 agreement {agree:.2%}, greedy {'equal' if ours['greedy'] == theirs['greedy'] else 'DIFFERENT'}")
        if worst_rel > REL_TOL or worst_abs > REL_TOL * biggest:
            failures.append(f"{name}: logits differ by more than {REL_TOL} relative")
        if strict:
            failures.append(f"{name}: top-1 differs at {strict[:10]} where quantc's margin > {MARGIN}")
        if ours["greedy"] != theirs["greedy"]:
            failures.append(f"{name}: greedy {theirs['greedy']} vs quantc {ours['greedy']}")
    report = os.path.join(work, "validate.json")
    v = subprocess.run([quantc, "--quiet", "validate", src, folder, "--text", os.path.join(testdata, "valid.txt"), "--max-tokens", "2048",
                        "--json", report], capture_output=True, text=True)
    if v.returncode != 0:
        failures.append(f"validate: {v.stderr.strip()[-400:]}")
    else:
        rows = {r["label"]: r for r in json.load(open(report))["rows"]}
        emu, ort = rows["tiny-qwen2-npu [emulation]"], rows["tiny-qwen2-npu [onnxruntime]"]
        print(f"validate: PPL {emu['ppl']:.4f} (emulation) / {ort['ppl']:.4f} (onnxruntime), mean KLD {emu['kld_mean']:.5f} / "
              f"{ort['kld_mean']:.5f}")
        if abs(emu["ppl"] / ort["ppl"] - 1) > 2e-3 or abs(emu["kld_mean"] / ort["kld_mean"] - 1) > 0.05:
            failures.append("validate: the emulation and onnxruntime disagree")
    for f in failures:
        print("FAIL:", f)
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
