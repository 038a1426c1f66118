#!/usr/bin/env python3
"""Runs `quantc eval MODEL --text TEXT --json` and checks the perplexity against a reference value
(the fixtures README: transformers, fp32, the same protocol) within a relative tolerance.

usage: check_ppl.py QUANTC MODEL TEXT EXPECTED_PPL [REL_TOL=5e-4]
"""
import json
import subprocess
import sys


def main() -> int:
    quantc, model, text, expected = sys.argv[1:5]
    tol = float(sys.argv[5]) if len(sys.argv) > 5 else 5e-4
    out = subprocess.run([quantc, "--quiet", "eval", model, "--text", text, "--json"], check=True,
                         capture_output=True, text=True).stdout
    got = json.loads(out)
    rel = abs(got["ppl"] - float(expected)) / float(expected)
    print(f"{model}: ppl {got['ppl']:.4f} over {got['tokens']} tokens; reference {expected}; relative difference {rel:.2e} (tolerance {tol:g})")
    return 0 if rel <= tol and got["tokens"] == 64897 else 1


if __name__ == "__main__":
    sys.exit(main())
