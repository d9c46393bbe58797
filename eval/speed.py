#!/usr/bin/env python3
"""Generation speed, candle (rag) against llama.cpp, side by side in one run, same GGUF, same thread count.

    python3 eval/speed.py [--threads 2] [--prompt-tokens 1000] [--gen 128]

llama.cpp comes from the PyPI package llama-cpp-python (0.3.36), which builds llama.cpp with cmake; it runs
the GGUF as shipped (SmolLM2 Q4_1, Qwen2.5-Coder Q4_K_M/Q5_0). rag runs what it ships: the same file with
its scalar-kernel tensor types requantized to Q8_0. Prefill is prompt tokens / time to the first generated
token; decode is the following tokens / their time. Run it on an otherwise idle machine.
"""
import argparse
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "rag", "models")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/rag-target"))
MODELS = {"smollm2-135m": "SmolLM2-135M-Instruct (Q4_1)", "qwen2.5-0.5b": "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)"}
FILLER = ("The pump hall holds four centrifugal pumps, each checked every shift for noise, leaks and "
          "vibration; readings go into the logbook together with the discharge pressure. ")


def llama_cpp(path, threads, prompt_tokens, gen):
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=2048, n_batch=512,
                verbose=False)
    tokens = llm.tokenize((FILLER * 200).encode())[:prompt_tokens]
    results = []
    for _ in range(2):  # the first run warms up (page-in), the second is measured
        llm.reset()
        start = time.perf_counter()
        first = None
        n = 0
        for _tok in llm.generate(tokens, temp=0.0, reset=True):
            n += 1
            if first is None:
                first = time.perf_counter()
            if n == gen:
                break
        end = time.perf_counter()
        results.append((len(tokens) / (first - start), (n - 1) / (end - first)))
    return results[-1]


def candle(name, threads, prompt_tokens, gen):
    out = subprocess.run(
        [os.path.join(TARGET, "debug", "rag-eval"), "--threads", str(threads), "bench-generate", "--llm", name,
         "--prompt-tokens", str(prompt_tokens), "--gen", str(gen)],
        check=True, capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["prefill_tok_s"], r["decode_tok_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=1000)
    ap.add_argument("--gen", type=int, default=128)
    a = ap.parse_args()
    print(f"threads {a.threads}, prompt {a.prompt_tokens} tokens, {a.gen} generated")
    print(f"{'model':40} {'llama.cpp prefill':>18} {'decode':>8} {'candle prefill':>15} {'decode':>8} "
          f"{'prefill x':>9} {'decode x':>8}")
    for name, label in MODELS.items():
        path = os.path.join(CACHE, name, "model.gguf")
        if not os.path.exists(path):
            subprocess.run([os.path.join(TARGET, "debug", "rag"), "models", "pull", name], check=True)
        lp, ld = llama_cpp(path, a.threads, a.prompt_tokens, a.gen)
        cp, cd = candle(name, a.threads, a.prompt_tokens, a.gen)
        print(f"{label:40} {lp:18.1f} {ld:8.1f} {cp:15.1f} {cd:8.1f} {cp / lp:9.2f} {cd / ld:8.2f}")


if __name__ == "__main__":
    main()
