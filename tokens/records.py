"""Token records: one serialized `tf.train.Example` per document, in ArrayRecord shards.

The record format is MaxText's pre-tokenized input (int64 feature "text" with the
token ids, EOS appended; bytes feature "source"), built from a vendored copy of the
Example proto (tokens/proto/example.proto) so no TensorFlow is needed. Readers decode through a
compiled wire decoder (tokens/records_jit.py); protobuf decides any layout it does not know.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokens.proto import example_pb2

TOKENS_KEY = "text"     # MaxText: train_data_columns: ['text']
SOURCE_KEY = "source"
class CorruptRecordError(ValueError):
    """A record that does not decode to a valid token sequence; names shard and index."""


def encode_example(token_ids: Sequence[int] | np.ndarray, source: str) -> bytes:
    """Serialize one document; deterministic bytes (map keys sorted) for identical reruns."""
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    if ids.size and int(ids.min()) < 0:
        raise ValueError(f"negative token id {int(ids.min())}")
    example = example_pb2.Example()
    feature = example.features.feature
    feature[TOKENS_KEY].int64_list.value.extend(ids.tolist())
    feature[SOURCE_KEY].bytes_list.value.append(source.encode("utf-8"))
    return example.SerializeToString(deterministic=True)


def decode_example(record: bytes) -> tuple[np.ndarray, str]:
    """Full protobuf parse: (token ids int32, source). Raises CorruptRecordError."""
    example = example_pb2.Example()
    try:
        example.ParseFromString(record)
    except Exception as e:  # protobuf's DecodeError; message says little, we add context upstream
        raise CorruptRecordError(f"not a tf.train.Example ({type(e).__name__}: {e})") from None
    feature = example.features.feature
    if TOKENS_KEY not in feature or feature[TOKENS_KEY].WhichOneof("kind") != "int64_list":
        raise CorruptRecordError(f"no int64 feature {TOKENS_KEY!r}")
    source = b""
    if SOURCE_KEY in feature and feature[SOURCE_KEY].WhichOneof("kind") == "bytes_list":
        values = feature[SOURCE_KEY].bytes_list.value
        source = values[0] if values else b""
    ids = np.array(feature[TOKENS_KEY].int64_list.value, dtype=np.int64)
    return _to_int32(ids), source.decode("utf-8", "replace")


def _to_int32(ids: np.ndarray) -> np.ndarray:
    if ids.size and ((ids >> 31) != 0).any():   # negative or >= 2**31 in one pass
        raise CorruptRecordError("token id outside int32 range")
    return ids.astype(np.int32)


_JIT = None


def _compiled():
    global _JIT
    if _JIT is None:
        from tokens import records_jit   # numba: imported on the first decode, not by writers
        _JIT = records_jit
    return _JIT


def decode_checked(record: bytes) -> tuple[np.ndarray, int]:
    """(token ids int32, largest id or -1 when empty): the compiled decoder for the layout encode_example
    writes, the protobuf parse for any other (both accept what protobuf accepts). CorruptRecordError."""
    jit = _compiled()
    ids, top, status = jit.decode(record)
    if status == jit.OK:
        return ids, top
    if status != jit.FALLBACK:
        raise CorruptRecordError(jit.STATUS_MESSAGES[status])
    ids = decode_example(record)[0]
    return ids, int(ids.max()) if ids.size else -1


def decode_tokens(record: bytes) -> np.ndarray:
    """Token ids (int32) of one record, without message objects (decode_checked)."""
    return decode_checked(record)[0]
