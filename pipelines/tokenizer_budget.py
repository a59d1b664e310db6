"""How much memory and time SentencePiece BPE training needs, so train_tokenizer can refuse what will not fit.

SentencePiece holds every training line in memory and most of its BPE work runs on one core, so a
256k-vocabulary tokenizer on a multi-GB sample needs a large-memory machine for hours. The model below is
the fit recorded by `python -m benchmarks.tokenizer_training` (benchmarks/RESULTS.md, results.json key
tokenizer_training_fit); tests/pipelines/test_tokenizer_budget.py keeps the two in step.
"""
from __future__ import annotations

import dataclasses
import math
import os

GiB = 1 << 30
MEAN_LINE_BYTES = 59      # training lines of the sample corpus (prose + code): 15.5 MB in 262k lines
MARGIN = 1.25             # headroom over the fitted peak (its worst error on the measured points: 4%)
# GCE machine types by memory (GiB), smallest first: what docs/capacity.md and the refusal recommend.
MACHINES = (("n2-standard-8", 32), ("n2-highmem-8", 64), ("n2-highmem-16", 128), ("n2-highmem-32", 256),
            ("n2-highmem-64", 512), ("n2-highmem-128", 864), ("m1-ultramem-80", 1922))


@dataclasses.dataclass(frozen=True)
class Budget:
    """CPU s = e^time_log_a * bytes^time_bytes_exp * vocab^time_vocab_exp; peak RSS linear in bytes and vocab."""
    time_log_a: float
    time_bytes_exp: float
    time_vocab_exp: float
    mem_base_bytes: float
    mem_per_sample_byte: float
    mem_per_vocab_piece: float

    @classmethod
    def from_fit(cls, fit: dict) -> "Budget":
        return cls(**{f.name: float(fit[f.name]) for f in dataclasses.fields(cls)})

    def memory(self, sample_bytes: float, vocab_size: int) -> float:
        """Expected peak RSS in bytes (no margin)."""
        return self.mem_base_bytes + self.mem_per_sample_byte * sample_bytes + self.mem_per_vocab_piece * vocab_size

    def cpu_seconds(self, sample_bytes: float, vocab_size: int) -> float:
        return math.exp(self.time_log_a) * sample_bytes ** self.time_bytes_exp * vocab_size ** self.time_vocab_exp

    def max_sample_bytes(self, vocab_size: int, memory_bytes: float) -> int:
        """Largest sample whose expected peak, with the margin, stays within memory_bytes (0 if none)."""
        room = memory_bytes / MARGIN - self.mem_base_bytes - self.mem_per_vocab_piece * vocab_size
        return max(0, int(room / self.mem_per_sample_byte))


# Fitted by `nice -n 10 python -m benchmarks.tokenizer_training` on 16-256 MiB samples and 32k-256k vocabularies
# (benchmarks/RESULTS.md; results.json tokenizer_training_fit): worst point errors 15% (time), 4% (memory).
MEASURED = Budget(time_log_a=-12.314, time_bytes_exp=0.7930, time_vocab_exp=0.1019,
                  mem_base_bytes=125.8e6, mem_per_sample_byte=3.863, mem_per_vocab_piece=78.6)


def effective_sample_bytes(sample_bytes: float, input_sentence_size: int,
                           line_bytes: float = MEAN_LINE_BYTES) -> float:
    """Bytes SentencePiece loads: the sample, or its first input_sentence_size lines when that is set."""
    if input_sentence_size > 0:
        return min(float(sample_bytes), input_sentence_size * line_bytes)
    return float(sample_bytes)


def machine_memory() -> int:
    """Physical memory of this machine, or the cgroup limit when that is lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def machine_for(memory_bytes: float) -> str:
    """The smallest GCE machine type whose memory holds memory_bytes with the margin."""
    need = memory_bytes * MARGIN / GiB
    for name, gib in MACHINES:
        if gib >= need:
            return f"{name} ({gib} GiB)"
    return f"more than {MACHINES[-1][1]} GiB: lower the sample"


def check(sample_bytes: float, vocab_size: int, memory_bytes: float | None = None,
          budget: Budget = MEASURED) -> str:
    """A one-line estimate for `sample_bytes` of training lines; SystemExit naming the flags to change when the
    expected peak with the margin exceeds the memory (default: this machine's, or its cgroup limit)."""
    memory_bytes = machine_memory() if memory_bytes is None else memory_bytes
    need = budget.memory(sample_bytes, vocab_size)
    hours = budget.cpu_seconds(sample_bytes, vocab_size) / 3600
    line = (f"SentencePiece estimate: {sample_bytes / GiB:.2f} GiB of lines, vocab {vocab_size:,}: "
            f"~{need / GiB:.1f} GiB peak, ~{hours:.2f} h on one core (pipelines/tokenizer_budget.py); "
            f"memory {memory_bytes / GiB:.0f} GiB")
    if need * MARGIN > memory_bytes:
        fits = budget.max_sample_bytes(vocab_size, memory_bytes)
        raise SystemExit(
            f"train_tokenizer: will not fit: {line}. Lower --sample-bytes to at most {fits:,} "
            f"(or --input-sentence-size), or run on {machine_for(need)}; --memory-limit overrides the detected "
            "memory.")
    return line
