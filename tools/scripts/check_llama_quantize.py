#!/usr/bin/env python3
"""quantc's GGUF quantization against llama.cpp's llama-quantize, tensor by tensor.

For each tiny fixture and each mix recorded in testdata/goldens/llama_quantize/<model>.txt (made by
tools/goldens/llama_quantize_goldens.sh with llama.cpp itself), runs `quantc convert <fixture>
--type MIX [--imatrix <llama-imatrix file>]` and checks that every tensor has llama-quantize's type
and the same bytes (sha256). This covers the mix rules (per-tensor type choice, shape fallbacks,
the 8-expert rule) and every quantizer with and without importance weighting.

The GGUF parsing below is independent of quantc's reader. Usage:
  check_llama_quantize.py QUANTC TESTDATA WORKDIR [MODEL ...]
"""
import hashlib
import os
import struct
import subprocess
import sys

BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 20: (32, 18),
         23: (256, 136), 39: (32, 17)}
NAMES = {0: "F32", 1: "F16", 30: "BF16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K",
         11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 20: "IQ4_NL", 23: "IQ4_XS", 39: "MXFP4"}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_gguf(path):
    """Returns {name: (type_name, sha256)} for the tensors of a GGUF v3 file."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode()
        pos += n
        return s

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        n = SCALAR[t]
        fmt = {(1, 0): "B", (1, 1): "b", (1, 7): "B", (2, 2): "H", (2, 3): "h", (4, 4): "I", (4, 5): "i",
               (4, 6): "f", (8, 10): "Q", (8, 11): "q", (8, 12): "d"}[(n, t)]
        return take(fmt)

    assert data[:4] == b"GGUF", path
    pos = 4
    assert take("I") == 3
    n_tensors, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, dims, take("I"), take("Q")))
    align = kv.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    out = {}
    for name, dims, t, off in infos:
        elems = 1
        for d in dims:
            elems *= d
        be, bb = BLOCK[t]
        size = elems // be * bb
        out[name] = (NAMES[t], hashlib.sha256(data[start + off:start + off + size]).hexdigest())
    return out


def main():
    quantc, testdata, work = sys.argv[1:4]
    models = sys.argv[4:] or ["tiny-llama", "tiny-qwen2", "tiny-deepseek-v3"]
    os.makedirs(work, exist_ok=True)
    failures = checked = 0
    for model in models:
        golden_dir = os.path.join(testdata, "goldens", "llama_quantize")
        expected = {}
        for line in open(os.path.join(golden_dir, model + ".txt")):
            if line.startswith("#"):
                continue
            mix, imat, name, type_name, sha = line.split()
            expected.setdefault((mix, imat), {})[name] = (type_name, sha)
        for (mix, imat), tensors in expected.items():
            out = os.path.join(work, f"{model}-{mix}-{imat}.gguf")
            cmd = [quantc, "--quiet", "convert", os.path.join(testdata, model + "-bf16"), "-o", out, "--type", mix, "--force"]
            if imat == "yes":
                cmd += ["--imatrix", os.path.join(golden_dir, model + ".imatrix.gguf")]
            run = subprocess.run(cmd, capture_output=True, text=True)
            checked += 1
            if run.returncode != 0:
                failures += 1
                print(f"FAIL {model} {mix} imatrix={imat}: quantc exited {run.returncode}: {run.stderr.strip()}")
                continue
            got = read_gguf(out)
            os.remove(out)
            bad = [n for n in tensors if got.get(n) != tensors[n]] + [n for n in got if n not in tensors]
            if bad:
                failures += 1
                n = bad[0]
                print(f"FAIL {model} {mix} imatrix={imat}: {len(bad)} of {len(tensors)} tensors differ, e.g. {n}: "
                      f"quantc {got.get(n)} llama-quantize {tensors.get(n)}")
            else:
                print(f"ok   {model} {mix} imatrix={imat}: {len(tensors)} tensors equal")
    print(f"{checked - failures}/{checked} conversions equal llama-quantize's")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
