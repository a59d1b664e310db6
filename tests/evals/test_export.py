"""`python -m evals export`: the Hugging Face directory computes what the JAX model computes.

The slow tests need the `[hf]` extra (transformers, safetensors, torch CPU, accelerate) and load the export
with the real `transformers` and the real lm-evaluation-harness `hf` model.
"""
import dataclasses
import gzip
import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from evals.export import basis, rotary_order

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
TEXTS = ["def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
         "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.",
         "import numpy as np\n\nx = np.arange(10)\nprint(x.sum())  # 45\n"]
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax teardown


def test_basis_is_an_isometry_onto_zero_mean_vectors():
    q = basis(72, 64)
    assert np.allclose(q.T @ q, np.eye(64), atol=1e-12)
    assert np.abs(q.sum(axis=0)).max() < 1e-12          # every column orthogonal to the all-ones vector
    with pytest.raises(ValueError):
        basis(64, 64)


def test_rotary_order_interleaves_the_halves():
    assert rotary_order(8).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def sample_texts() -> list[str]:
    """Every text field of every document in data/sample (JSONL, zstd JSONL, Parquet, XML, notebooks)."""
    import pyarrow.parquet as pq
    import zstandard

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    out = []
    for path in sorted(SAMPLE.rglob("*")):
        if not path.is_file() or path.name in ("SHA256SUMS",):
            continue
        data = path.read_bytes()
        if path.suffix == ".zst":
            data = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30)
        elif path.suffix == ".gz":
            data = gzip.decompress(data)
        if path.suffix == ".parquet":
            table = pq.read_table(io.BytesIO(data))
            for column in table.column_names:
                if str(table.schema.field(column).type) == "string":
                    out += [v for v in table.column(column).to_pylist() if v]
        elif ".jsonl" in path.name:
            for line in data.decode("utf-8", "replace").splitlines():
                try:
                    out += list(strings(json.loads(line)))
                except ValueError:
                    out.append(line)                      # the sample's planted malformed lines are text too
        else:
            out.append(data.decode("utf-8", "replace"))
    return out


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "hf model"      # a space in the path on purpose
    proc = subprocess.run([sys.executable, "-m", "evals", "export", "--checkpoint", tiny_run["run"], "--output",
                           str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(out)


@pytest.mark.slow
def test_export_refuses_to_overwrite_and_names_a_missing_checkpoint(exported, tiny_run, tmp_path):
    again = subprocess.run([sys.executable, "-m", "evals", "export", "--checkpoint", tiny_run["run"], "--output",
                            exported], capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    missing = subprocess.run([sys.executable, "-m", "evals", "export", "--checkpoint", str(tmp_path / "nope"),
                              "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_transformers_logits_and_greedy_generation_match_the_jax_model(exported, loaded):
    import torch
    from transformers import AutoModelForCausalLM

    from evals.inference import Engine, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(exported)
    assert type(model).__name__ == "CohereForCausalLM"
    tok = loaded.tokenizer
    engine = Engine(dataclasses.replace(loaded.cfg, dtype="float32"), loaded.params, tok.eos_id, tok.pad_id, 4)
    for text in TEXTS:
        ids = tok.encode(text)[:loaded.cfg.seq_len]
        with torch.no_grad():
            ours = engine.logits(np.array([ids]))[0]
            theirs = model(torch.tensor([ids])).logits[0].numpy()
        assert np.abs(ours - theirs).max() < 1e-3, text
        prompt = ids[:loaded.cfg.seq_len - 32]
        generated = engine.generate([prompt], GenerationConfig(max_new_tokens=32))[0]
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt]), max_new_tokens=32, do_sample=False)[0, len(prompt):]
        hf = [int(t) for t in out]
        hf = hf[:hf.index(tok.eos_id)] if tok.eos_id in hf else hf
        assert generated == hf and (len(hf) == 32 or len(generated) < 32), text


@pytest.mark.slow
def test_transformers_tokenizer_gives_the_project_ids_on_the_whole_sample(exported, loaded):
    from transformers import AutoTokenizer

    from tests.pipelines.curated_sample import HARD_CASES

    hf = AutoTokenizer.from_pretrained(exported)
    texts = sample_texts() + HARD_CASES + ["</s> and <s> and <pad> in text", "a\u2581b \u2581\u2581 c"]
    assert len(texts) > 1000
    encoded = hf(texts, add_special_tokens=False)["input_ids"]
    wrong = [t[:60] for t, ids in zip(texts, encoded) if ids != loaded.tokenizer.encode(t)]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts tokenized differently, e.g. {wrong[:3]}"
    assert hf.decode(encoded[-1]) == texts[-1]


@pytest.mark.slow
def test_lm_eval_hf_and_the_project_adapter_agree_per_sample(exported, loaded, tmp_path, monkeypatch):
    """The shipped multiple-choice suite through `--model hf pretrained=DIR` and through `code-mixtures`."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    import lm_eval
    from lm_eval.tasks import TaskManager

    from evals import local_tasks
    from evals.harness import CodeMixturesLM
    from evals.lm import TextModel

    local_tasks.write_suites(str(tmp_path / "tasks"))
    task = local_tasks.SUITES["reasoning"][0]

    def per_sample(**model) -> dict:
        out = lm_eval.simple_evaluate(**model, tasks=[task], log_samples=True,
                                      task_manager=TaskManager(include_path=str(tmp_path / "tasks")))
        return {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in out["samples"][task]}

    hf = per_sample(model="hf", model_args=f"pretrained={exported},dtype=float32", device="cpu", batch_size=8)
    ours = per_sample(model=CodeMixturesLM(text_model=TextModel(loaded, 8)))
    assert sorted(hf) == sorted(ours) and len(hf) >= 10
    worst = max(abs(a - b) for d in hf for a, b in zip(hf[d], ours[d], strict=True))
    assert worst < 1e-3, worst
