"""lm-evaluation-harness adapter: the trainer's checkpoints as the harness model `code-mixtures`.

    python -m evals harness --model code-mixtures --model_args checkpoint=RUN[,tokenizer=TOK,step=N,seed=S] \
        --tasks arc_easy,piqa [--include_path DIR] [any other lm_eval flag]

`python -m evals harness ...` imports this module (which registers the model) and hands the rest of the
command line to lm_eval's own CLI, so every lm_eval flag and task works unchanged. The plain `lm_eval`
script cannot find the model: lm-eval 0.4.x discovers no third-party models (its registry has no plugin
entry point), so registration has to happen in the process that runs the harness; Python callers
`import evals.harness` before calling `lm_eval.simple_evaluate(model="code-mixtures", ...)`.
"""
from __future__ import annotations

import os
import sys
import tempfile

import lm_eval.models  # noqa: F401  (the built-in models' lazy entries: registering ours must not hide them)
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from evals.inference import GenerationConfig

MODEL_NAME = "code-mixtures"
SHIPPED = ("cm_local_reasoning", "cm_local_knowledge")   # evals.local_tasks.SUITES, runnable by name
DEFAULT_MAX_GEN_TOKS = 256


def generation_config(gen_kwargs: dict, seed: int) -> GenerationConfig:
    """lm_eval gen_kwargs (until, max_gen_toks, do_sample, temperature, top_p) -> GenerationConfig."""
    kwargs = dict(gen_kwargs or {})
    until = kwargs.pop("until", None) or []
    until = [until] if isinstance(until, str) else list(until)
    temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
    if kwargs.pop("do_sample", None) is False:
        temperature = 0.0
    return GenerationConfig(max_new_tokens=int(kwargs.pop("max_gen_toks", DEFAULT_MAX_GEN_TOKS)),
                            temperature=temperature, top_p=float(kwargs.pop("top_p", 1.0) or 1.0),
                            stop=tuple(until), seed=seed)


@register_model(MODEL_NAME)
class CodeMixturesLM(LM):
    """A run directory (local or gs://) evaluated on the first local device (evals.checkpoint, evals.lm)."""

    def __init__(self, checkpoint: str | None = None, tokenizer: str | None = None, step: int | None = None,
                 batch_size: int | str = 16, seed: int = 0, max_batch_size: int | None = None,
                 device: str | None = None, text_model=None, **unused):
        """`text_model`: an evals.lm.TextModel already loaded (Python callers: the sweep), else `checkpoint`."""
        super().__init__()
        from evals.checkpoint import load
        from evals.lm import TextModel

        size = 16 if str(batch_size).startswith("auto") else int(batch_size)
        if text_model is None:
            if not checkpoint:
                raise ValueError("model_args needs checkpoint=RUN (a trainer run directory, local or gs://)")
            text_model = TextModel(load(checkpoint, tokenizer, None if step is None else int(step)), size)
        self.model = text_model
        self.seed = int(seed)

    @property
    def tokenizer_name(self) -> str:
        return self.model.tokenizer.sha256

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        results = self.model.loglikelihood([r.args for r in requests])
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        results = self.model.loglikelihood_rolling([r.args[0] for r in requests])
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, result)
        return results

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Requests grouped by identical generation settings, each group generated in batches."""
        groups: dict[GenerationConfig, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(generation_config(request.args[1], self.seed), []).append(i)
        out: list[str] = [""] * len(requests)
        for gen, indices in groups.items():
            texts = self.model.generate([requests[i].args[0] for i in indices], gen)
            for i, text in zip(indices, texts):
                out[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return out


def with_local_suites(argv: list[str], directory: str) -> list[str]:
    """argv with each shipped suite named in --tasks (cm_local_reasoning, ...) replaced by the path of its
    task YAML, written under `directory`: lm_eval takes YAML paths as task names, so the suites run by name
    with or without the user's own --include_path."""
    from evals import local_tasks

    names = {name for name, _, _ in local_tasks.SUITES.values()}
    out, written = [], None
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        previous = argv[i - 1] if i else ""
        if (flag == "--tasks" and eq) or previous == "--tasks":
            value = value if eq else arg
            tasks = value.split(",")
            if names & set(tasks):
                written = written or {name: os.path.join(directory, f"{name}.yaml")
                                      for name in local_tasks.write_suites(directory).values()}
                value = ",".join(written.get(t, t) for t in tasks)
            arg = f"--tasks={value}" if eq else value
        out.append(arg)
    return out


def unreachable_dataset(error: BaseException) -> str | None:
    """A one-line reason when `error` is a dataset the harness could not fetch (offline, no cache), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        name = type(error).__name__
        if isinstance(error, ConnectionError) or name in ("DatasetNotFoundError", "LocalEntryNotFoundError",
                                                           "OfflineModeIsEnabled"):
            first = str(error).splitlines()[0] if str(error) else name
            return (f"a task's dataset is not reachable: {first}. It needs the Hugging Face Hub or a filled "
                    f"HF_DATASETS_CACHE; offline, run the shipped suites ({', '.join(SHIPPED)}) or tasks over "
                    "local files (--include_path)")
        error = error.__cause__ or error.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    """lm_eval's CLI with `code-mixtures` registered (argv as lm_eval takes it); the shipped suites run by
    name; a dataset that cannot be fetched is one line on stderr and exit status 2, not a traceback."""
    from lm_eval.__main__ import cli_evaluate

    from evals.errors import InputError

    argv = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="cm-suites-") as scratch:
        sys.argv = ["lm_eval", *with_local_suites(argv, scratch)]
        try:
            cli_evaluate()
        except Exception as e:  # noqa: BLE001 (re-raised unless it is a dataset the user must provide)
            reason = str(e) if isinstance(e, InputError) else unreachable_dataset(e)
            if reason is None:
                raise
            print(f"python -m evals harness: {reason}", file=sys.stderr)
            return 2
    return 0
