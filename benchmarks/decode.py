"""KV-cached generation (evals.inference.Engine) vs re-running the whole prefix for every new token.

Greedy decoding of N new tokens after a 16-token prompt, batch 8, on a randomly initialised decoder (the
cost does not depend on the weights; EOS is disabled so every row runs to N). The peer is the same jitted
model without a cache: each step runs the training forward pass over the prefix so far (padded to the next
power of two, so it compiles a few programs, not one per length). Per new token the cached path costs one
pass over the cache slots; the peer's cost grows with the prefix, so its total grows quadratically.

    python -m benchmarks.decode [--quick] [--no-record]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _setup(seq_len: int):
    import jax
    import jax.numpy as jnp
    from flax import linen as nn

    from trainer.configs import ModelConfig
    from trainer.model import Decoder

    cfg = ModelConfig(vocab_size=4096, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2, d_ff=384,
                      seq_len=seq_len, dtype="float32")
    params = nn.meta.unbox(Decoder(cfg).init(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"])
    return cfg, params


def cached(engine, prompts, new_tokens: int) -> float:
    from evals.inference import GenerationConfig

    gen = GenerationConfig(max_new_tokens=new_tokens)
    engine.generate(prompts, gen)                                  # compile
    start = time.perf_counter()
    out = engine.generate(prompts, gen)
    elapsed = time.perf_counter() - start
    assert all(len(o) == new_tokens for o in out)
    return elapsed


def uncached(engine, prompts, new_tokens: int) -> float:
    def run():
        rows = [list(p) for p in prompts]
        for _ in range(new_tokens):
            length = len(rows[0])
            width = 1 << (length - 1).bit_length()
            tokens = np.zeros((len(rows), width), np.int32)
            tokens[:, :length] = rows
            logits = engine.logits(tokens)                         # training forward pass, no cache
            for r, t in enumerate(logits[:, length - 1].argmax(-1)):
                rows[r].append(int(t))
        return rows

    run()                                                          # compile every width
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="new tokens 64 and 256 instead of 128 and 512")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    from evals.inference import Engine

    lengths = (64, 256) if args.quick else (128, 512)
    cfg, params = _setup(seq_len=16 + max(lengths))
    engine = Engine(cfg, params, eos_id=-1, batch_size=8)
    prompts = [list(range(3 + r, 19 + r)) for r in range(8)]
    rows = []
    for n in lengths:
        a, b = cached(engine, prompts, n), uncached(engine, prompts, n)
        rows.append((n, a, b))
        print(f"{n} new tokens x 8 rows: cached {a:.2f} s ({1e3 * a / n:.1f} ms/step), "
              f"no cache {b:.2f} s ({1e3 * b / n:.1f} ms/step), {b / a:.2f}x")
    (n1, a1, b1), (n2, a2, b2) = rows
    growth = f"ms/step x{(a2 / n2) / (a1 / n1):.2f} cached, x{(b2 / n2) / (b1 / n1):.2f} no cache"
    print(f"{n1} -> {n2} new tokens: {growth}")
    if not args.no_record:
        from benchmarks import results

        table = "\n".join(f"| {n} | {a:.2f} s ({1e3 * a / n:.1f} ms/step) | {b:.2f} s ({1e3 * b / n:.1f} ms/step) "
                          f"| {b / a:.2f}x |" for n, a, b in rows)
        results.append_section(f"""## Generation with a KV cache (evals.inference) — {results.today()}

`python -m benchmarks.decode{' --quick' if args.quick else ''}` on {results.machine()}, {results.load_avg()}.
Greedy, batch 8, 16-token prompt, D=128 x 4 layers, vocab 4096; peer: the same model re-run over the
whole prefix for every token (training forward pass, padded to powers of two).

| new tokens | KV cache | no cache (peer) | speed-up |
|---|---|---|---|
{table}

Per-step cost from {n1} to {n2} new tokens: {growth} (linear total = flat per step).
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
