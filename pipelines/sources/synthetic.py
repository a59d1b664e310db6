"""Synthetic Python problems -> `synthetic` documents, in three schemas decided per record:

- ours:      {"id" (or "task_id"), "prompt", "solution", "tests"} (+ optional "entry_point"): tests are asserts;
- HumanEval: {"task_id", "prompt", "canonical_solution", "test", "entry_point"}: the solution completes
             the prompt's function, the tests define `check(candidate)`, called with the entry point;
- MBPP:      {"task_id", "text", "code", "test_list", "test_setup_code"}: a prose prompt, asserts in a
             list, setup code run before them.
The text is what the model trains on (prompt + "\\n" + solution); the tests travel in meta["tests"]
(MBPP setup in meta["test_setup"], HumanEval's entry point in meta["entry_point"]) and
meta["prompt_chars"] marks where the solution starts, so pipelines.verify runs exactly the solution
against them before it is kept (without storing the text twice).
"""
from __future__ import annotations

from typing import BinaryIO, Iterator, Mapping

from pipelines.document import Document, Rejected
from pipelines.sources.jsonl import MissingField, field, parse_records
from pipelines.sources.limits import ReadLimits, checked_document, document_key

SOURCE = "synthetic"
PATTERNS = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst")
# Fields a --field mapping may name: the project's schema, then HumanEval's and MBPP's.
FIELDS = ("id", "prompt", "solution", "tests", "entry_point", "task_id", "canonical_solution", "test",
          "text", "code", "test_list", "test_setup_code")


def schema_of(obj: dict) -> str:
    """'humaneval', 'mbpp' or 'ours', from the fields the record carries."""
    if "canonical_solution" in obj and "test" in obj:
        return "humaneval"
    if "code" in obj and "test_list" in obj:
        return "mbpp"
    return "ours"


def _fields(obj: dict, schema: str) -> tuple[str, str, str, str, dict]:
    """(task id, prompt, solution, tests, extra meta) of one record; MissingField when incomplete."""
    if schema == "humaneval":
        extra = {"entry_point": field(obj, "entry_point")}
        return (str(field(obj, "task_id", (str, int))), field(obj, "prompt"), field(obj, "canonical_solution"),
                field(obj, "test"), extra)
    if schema == "mbpp":
        tests = field(obj, "test_list", list)
        if not tests or not all(isinstance(t, str) for t in tests):
            raise MissingField("missing_field: test_list (a non-empty list of strings)")
        setup = field(obj, "test_setup_code", required=False) or ""
        return (str(field(obj, "task_id", (str, int))), field(obj, "text"), field(obj, "code"),
                "\n".join(tests) + "\n", {"test_setup": setup} if setup.strip() else {})
    extra = {"entry_point": str(obj["entry_point"])} if obj.get("entry_point") else {}
    # HumanEval's and MBPP's id name is accepted in our schema too ("id" wins when both are there).
    key = "id" if obj.get("id") is not None or obj.get("task_id") is None else "task_id"
    return str(field(obj, key, (str, int))), field(obj, "prompt"), field(obj, "solution"), field(obj, "tests"), extra


def _record(obj: dict, lineno: int, path: str, limits: ReadLimits) -> Document | Rejected:
    schema = schema_of(obj)
    task_id, prompt, solution, tests, extra = _fields(obj, schema)
    meta = {"task_id": task_id, "original_id": task_id, "tests": tests, "prompt_chars": len(prompt),
            "file": path, "line": lineno, **extra}
    if schema != "ours":
        meta["schema"] = schema
    return checked_document(SOURCE, document_key(path, f"line {lineno}"), prompt + "\n" + solution, meta, limits)


def parse(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits(),
          fields: Mapping[str, str] | None = None) -> Iterator[Document | Rejected]:
    return parse_records(stream, path, SOURCE, limits, _record, fields)


def verify_checks(cfg, source: str) -> list:
    """The family's verification hook: run each problem's tests against its solution in the sandbox.

    Fails closed: a strict sandbox missing a layer on this worker rejects each problem
    `sandbox_unavailable`, never keeps it. Imported lazily: reading needs no sandbox."""
    import functools
    import logging

    from sandbox.execution import log_best_effort
    from pipelines.verify.synthetic import verification_reason
    log_best_effort(cfg.sandbox, logging.getLogger("sandbox"))
    return [functools.partial(verification_reason, cfg=cfg)]
