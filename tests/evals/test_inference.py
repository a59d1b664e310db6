"""evals.checkpoint + evals.inference: params-only restore, cached vs uncached logits, scoring, generation."""
import jax
import numpy as np
import pytest

from evals.checkpoint import CheckpointError, load
from evals.inference import Engine, GenerationConfig, sample_tokens
from trainer.model import KVCache

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def test_load_restores_the_trained_parameters_and_the_runs_tokenizer(tiny_run, loaded):
    from tests.evals.tiny_run import STEPS

    assert loaded.step == STEPS and loaded.cfg.d_model == 32 and loaded.cfg.seq_len == 64
    assert loaded.tokenizer.vocab_size == loaded.cfg.vocab_size == 640
    assert loaded.params["embed"]["embedding"].shape == (640, 32)
    assert np.abs(np.asarray(loaded.params["block_0"]["attn"]["query"]["kernel"])).sum() > 0


def test_load_refuses_a_missing_run_and_a_wrong_tokenizer(tiny_run, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load(str(tmp_path / "nothing"))
    from tests.pipelines.curated_sample import documents, train_tokenizer

    other = tmp_path / "other.model"
    other.write_bytes(train_tokenizer(documents(per_source=3), 600))
    with pytest.raises(CheckpointError, match="sha256"):
        load(tiny_run["run"], tokenizer=str(other))


def _engine(loaded, batch_size=4):
    return Engine(loaded.cfg, loaded.params, loaded.tokenizer.eos_id, loaded.tokenizer.pad_id, batch_size)


def test_cached_decoding_matches_the_uncached_forward_pass(loaded):
    engine = _engine(loaded)
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, loaded.cfg.vocab_size, (2, 24)).astype(np.int32)
    full = engine.logits(tokens)                                  # [2, 24, V], training forward pass
    cache = KVCache.empty(loaded.cfg, 2, 32)
    prefix = 10
    apply = jax.jit(lambda tokens, seg, pos, cache: engine.model.apply({"params": loaded.params}, tokens, seg, pos,
                                                                       cache=cache))
    seg, pos = np.ones((2, prefix), np.int32), np.tile(np.arange(prefix, dtype=np.int32), (2, 1))
    logits, cache = apply(tokens[:, :prefix], seg, pos, cache)
    np.testing.assert_allclose(logits, full[:, :prefix], atol=1e-4, rtol=1e-4)
    for t in range(prefix, 24):
        step, cache = apply(tokens[:, t:t + 1], np.ones((2, 1), np.int32), np.full((2, 1), t, np.int32), cache)
        np.testing.assert_allclose(step[:, 0], full[:, t], atol=1e-4, rtol=1e-4)
    assert int(cache.index) == 24


def test_left_padded_batch_generates_what_each_prompt_generates_alone(loaded):
    engine = _engine(loaded)
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [20, 21, 22, 23]]
    gen = GenerationConfig(max_new_tokens=12)
    together = engine.generate(prompts, gen)
    alone = [engine.generate([p], gen)[0] for p in prompts]      # each alone in a batch of padding rows
    assert together == alone and all(len(g) <= 12 for g in together)
    # greedy continuation = argmax of the uncached forward pass over prompt + what was generated so far
    p, g = prompts[0], together[0]
    if g:
        full = engine.logits(np.asarray([p + g], np.int32))
        assert [int(x) for x in full[0, len(p) - 1:len(p) + len(g) - 1].argmax(-1)] == g


def test_sampling_is_deterministic_for_a_seed_and_varies_across_seeds(loaded):
    engine = _engine(loaded)
    prompts = [[5, 6, 7], [8, 9, 10, 11]]
    hot = GenerationConfig(max_new_tokens=16, temperature=1.5, top_p=0.95, seed=7)
    a, b = engine.generate(prompts, hot), engine.generate(prompts, hot)
    assert a == b
    others = [engine.generate(prompts, GenerationConfig(max_new_tokens=16, temperature=1.5, seed=s)) for s in (8, 9)]
    assert any(o != a for o in others)


def test_top_p_keeps_only_the_nucleus():
    logits = np.log(np.array([[0.6, 0.3, 0.05, 0.05]], np.float32)).repeat(64, 0)
    keys = jax.vmap(jax.random.key)(np.arange(64))
    drawn = {int(x) for t in range(20) for x in np.asarray(sample_tokens(logits, keys, t, 1.0, 0.8))}
    assert drawn == {0, 1}                                        # 0.6 + 0.3 covers 0.8; 2 and 3 never drawn
    assert set(np.asarray(sample_tokens(logits, keys, 0, 0.0, 1.0)).tolist()) == {0}   # temperature 0: argmax


def test_score_sums_continuation_logprobs_and_flags_greedy(loaded):
    engine = _engine(loaded)
    context, continuation = [5, 6, 7, 8], [9, 10, 11]
    (logprob, greedy), = engine.score([(context, continuation)])
    full = engine.logits(np.asarray([context + continuation], np.int32))[0]
    logp = jax.nn.log_softmax(full, axis=-1)
    want = sum(float(logp[len(context) - 1 + k, tok]) for k, tok in enumerate(continuation))
    assert logprob == pytest.approx(want, abs=1e-3)
    argmax = engine.logits(np.asarray([context], np.int32))[0, -1].argmax()
    (_, greedy_one), = engine.score([(context, [int(argmax)])])
    assert greedy_one is True
    batch = engine.score([(context, continuation)] * 3 + [([], [5, 6]), (list(range(3, 200)), [9])])
    assert [r[0] for r in batch[:3]] == pytest.approx([logprob] * 3, abs=1e-4)   # batching changes nothing
    assert all(np.isfinite(r[0]) and r[0] < 0 for r in batch)


def test_generation_keeps_the_whole_prompt_and_shortens_the_budget_instead(loaded):
    """Defect 2: a 50-token prompt with 256 new tokens asked for, at seq_len 64, used to keep 1 prompt token."""
    engine = _engine(loaded)
    limit = loaded.cfg.seq_len
    rng = np.random.default_rng(3)
    prompt = [int(x) for x in rng.integers(4, loaded.cfg.vocab_size, 50)]
    asked = engine.generate([prompt], GenerationConfig(max_new_tokens=256))[0]
    fitted = engine.generate([prompt], GenerationConfig(max_new_tokens=limit - 50))[0]
    assert asked == fitted and len(asked) <= limit - 50
    assert engine.fit(50, 256) == (50, limit - 50)
    assert engine.fit(10, 8) == (10, 8)
    assert engine.fit(limit + 5, 8) == (limit - 1, 1)                   # only a prompt that alone overflows is cut
    # A short prompt batched with a long one keeps its own, longer budget (batch-independent).
    short = prompt[:5]
    alone = engine.generate([short], GenerationConfig(max_new_tokens=40))[0]
    assert engine.generate([prompt, short], GenerationConfig(max_new_tokens=40))[1] == alone
