"""SentencePiece BPE: the training config, the trainer call, and a byte-exact codec.

Why the settings below: code needs every byte back exactly (indentation, tabs,
trailing spaces, CRLF), so normalisation is the identity, whitespace is never
collapsed, no dummy prefix is added, unseen characters fall back to bytes, and
runs of spaces/tabs/newlines are single pieces.

Two SentencePiece quirks and how they are handled (documented in `Tokenizer`):
- The trainer reads its input one line at a time, so "\\n" can never be learnt
  from data. Training text is split at newlines (`training_lines`) and "\\n",
  "\\n\\n" and "\\r\\n" are user-defined pieces, so at encode time a newline is one id.
- SentencePiece writes a space as U+2581 ("▁") inside pieces, so a literal "▁" in
  the text would decode as a space. `Tokenizer.encode` encodes the text between
  literal "▁"s and emits each "▁" as its three UTF-8 byte-fallback ids, which plain
  `SentencePieceProcessor.decode` turns back into "▁": decode(encode(x)) == x for
  every string, with the stock decoder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence

from pipelines.records import read_varint

SPACE = "\u2581"   # SentencePiece's internal whitespace symbol
# Whitespace runs as single pieces (spaces are written as U+2581 inside pieces).
WHITESPACE_PIECES = ("\n", "\n\n", "\r\n", "\t", "\t\t", "\t\t\t\t",
                     SPACE * 2, SPACE * 4, SPACE * 8, SPACE * 16)


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 8192              # sample-corpus default; the paper uses 256000 (preset FULL)
    sample_bytes: int = 8 << 20         # UTF-8 bytes of documents sampled across sources
    sample_docs: int = 0                # if > 0, sample this many documents instead of bytes
    min_source_share: float = 0.05      # floor per source, so code and markup are represented
    max_sentence_length: int = 16384    # bytes per training line; longer lines are cut (SPM default 4192)
    input_sentence_size: int = 0        # lines SPM keeps (0 = all; sampling is ours, by id hash)
    character_coverage: float = 1.0     # keep every seen character; rare ones still fall back to bytes
    num_threads: int = 2                # SPM trainer threads (does not change the result)
    seed: int = 0                       # SPM's global RNG seed (its own sampling is disabled anyway)
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    unk_id: int = 3

    def spm_args(self) -> dict:
        """Keyword arguments for SentencePieceTrainer.train (input/model_prefix added by caller)."""
        return dict(
            model_type="bpe", vocab_size=self.vocab_size, byte_fallback=True, split_digits=True,
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, add_dummy_prefix=False,
            normalization_rule_name="identity", user_defined_symbols=list(WHITESPACE_PIECES),
            character_coverage=self.character_coverage, max_sentence_length=self.max_sentence_length,
            input_sentence_size=self.input_sentence_size, shuffle_input_sentence=False,
            num_threads=self.num_threads, pad_id=self.pad_id, bos_id=self.bos_id,
            eos_id=self.eos_id, unk_id=self.unk_id, hard_vocab_limit=True, minloglevel=2)


SAMPLE = TokenizerConfig()
FULL = dataclasses.replace(SAMPLE, vocab_size=256000, sample_bytes=4 << 30, input_sentence_size=20_000_000,
                           num_threads=32)
PRESETS = {"sample": SAMPLE, "full": FULL}


def training_lines(text: str, max_bytes: int) -> list[str]:
    """A document as SPM training sentences: its lines (newlines are user pieces), long ones cut.

    Cuts fall on character boundaries so every line stays valid UTF-8; empty lines
    carry nothing to learn and are dropped.
    """
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        raw = line.encode("utf-8", "surrogatepass")
        while len(raw) > max_bytes:
            cut = max_bytes
            while cut > 0 and (raw[cut] & 0xC0) == 0x80:   # back off to a character start
                cut -= 1
            out.append(raw[:cut].decode("utf-8", "replace"))
            raw = raw[cut:]
        if raw.strip():
            out.append(raw.decode("utf-8", "replace"))
    return out


def train(sample_path: str, config: TokenizerConfig) -> bytes:
    """Train SentencePiece on one local text file (one sentence per line); returns model bytes.

    The model is fed through an iterator and returned as bytes, then canonicalised,
    so its SHA-256 depends only on the sample and the settings that shape the model:
    not on temporary paths or the thread count SentencePiece records in its spec.
    """
    import io as _io

    import sentencepiece as spm

    def lines():
        with open(sample_path, encoding="utf-8", errors="surrogatepass", newline="\n") as f:
            for line in f:
                yield line[:-1] if line.endswith("\n") else line

    spm.set_random_generator_seed(config.seed)
    writer = _io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=lines(), model_writer=writer, **config.spm_args())
    return canonical_model(writer.getvalue())


# TrainerSpec fields that describe the training run, not the model (sentencepiece_model.proto).
_RUN_ONLY_TRAINER_FIELDS = {1: "input", 2: "model_prefix", 7: "input_format", 16: "num_threads"}


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _split_fields(buf: bytes, pos: int, end: int):
    """(field number, wire type, start of key, end of field) for each protobuf field."""
    while pos < end:
        begin = pos
        key, pos = read_varint(buf, pos, end)
        wire = key & 7
        if wire == 0:
            _, pos = read_varint(buf, pos, end)
        elif wire == 2:
            size, pos = read_varint(buf, pos, end)
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unexpected wire type {wire} in a SentencePiece model")
        if pos > end:
            raise ValueError("truncated SentencePiece model")
        yield key >> 3, wire, begin, pos


def canonical_model(model: bytes) -> bytes:
    """Drop run-only TrainerSpec fields from a serialized ModelProto (field 2 = trainer_spec)."""
    out = bytearray()
    for number, wire, begin, end in _split_fields(model, 0, len(model)):
        if number != 2 or wire != 2:
            out += model[begin:end]
            continue
        _, pos = read_varint(model, begin, end)      # key
        _, pos = read_varint(model, pos, end)        # length; the payload runs to `end`
        spec = b"".join(model[b:e] for n, _, b, e in _split_fields(model, pos, end)
                        if n not in _RUN_ONLY_TRAINER_FIELDS)
        out += _encode_varint((2 << 3) | 2) + _encode_varint(len(spec)) + spec
    return bytes(out)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Tokenizer:
    """A loaded model with byte-exact encode (see module docstring for the "▁" rule)."""

    def __init__(self, model_proto: bytes, num_threads: int = 1):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.sha256 = hashlib.sha256(model_proto).hexdigest()
        self.num_threads = num_threads
        self._space_ids = [self.sp.piece_to_id(f"<0x{b:02X}>") for b in SPACE.encode("utf-8")]
        if any(i == self.sp.unk_id() for i in self._space_ids):
            raise ValueError("model lacks byte-fallback pieces; train it with byte_fallback=True")

    @classmethod
    def load(cls, path: str, num_threads: int = 1) -> "Tokenizer":
        """Local or gs:// path (read through Beam FileSystems when remote)."""
        if "://" in path:
            from pipelines import io

            with io.open_read(path) as f:
                return cls(f.read(), num_threads)
        with open(path, "rb") as f:
            return cls(f.read(), num_threads)

    @property
    def vocab_size(self) -> int:
        return self.sp.vocab_size()

    @property
    def eos_id(self) -> int:
        return self.sp.eos_id()

    @property
    def pad_id(self) -> int:
        return self.sp.pad_id()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (no BOS/EOS); SPM's batch encode runs on `num_threads`."""
        plain = [i for i, t in enumerate(texts) if SPACE not in t]
        out: list[list[int]] = [[] for _ in texts]
        if plain:
            encoded = self.sp.encode([texts[i] for i in plain], num_threads=self.num_threads)
            for i, ids in zip(plain, encoded):
                out[i] = ids
        for i, text in enumerate(texts):
            if SPACE in text:
                out[i] = self._encode_with_literal_space(text)
        return out

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def _encode_with_literal_space(self, text: str) -> list[int]:
        parts = text.split(SPACE)
        ids = self.sp.encode(parts[0])
        for part in parts[1:]:
            ids.extend(self._space_ids)
            ids.extend(self.sp.encode(part))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])


def default_num_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))
