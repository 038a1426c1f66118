#!/usr/bin/env python3
"""Converts each FP8 fixture with quantc and checks every output tensor against the per-tensor
sha256 that DeepSeek's own fp8_cast_bf16.py produced (testdata/goldens/deepseek-fp8-cast).

usage: check_deepseek_cast.py QUANTC_BINARY TESTDATA_DIR WORK_DIR
Parses the safetensors it reads with its own few lines (not quantc's reader).
"""
import hashlib
import json
import pathlib
import shutil
import struct
import subprocess
import sys


def tensor_hashes(folder: pathlib.Path) -> dict:
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        data = f.read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        for name, t in header.items():
            if name == "__metadata__":
                continue
            b, e = t["data_offsets"]
            out[name] = [t["dtype"], t["shape"], hashlib.sha256(data[8 + n + b : 8 + n + e]).hexdigest()]
    return out


def main() -> int:
    quantc, testdata, work = map(pathlib.Path, sys.argv[1:4])
    failures = 0
    for golden in sorted((testdata / "goldens" / "deepseek-fp8-cast").glob("*.json")):
        model = golden.stem
        out = work / f"deepseek-cast-{model}"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([str(quantc), "--quiet", "convert", str(testdata / model), "-o", str(out)], check=True)
        expected = json.loads(golden.read_text())
        got = tensor_hashes(out)
        bad = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        print(f"{model}: {len(expected) - len(bad)}/{len(expected)} tensors identical to DeepSeek's fp8_cast_bf16.py")
        for k in bad[:5]:
            print(f"  {k}: expected {expected.get(k)}, got {got.get(k)}")
        failures += len(bad)
        shutil.rmtree(out, ignore_errors=True)
    if failures:
        print(f"{failures} tensor(s) differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
