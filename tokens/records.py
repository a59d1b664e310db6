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
_MAX_TOKEN_VARINT_BYTES = 5   # ids < 2**31: token ids never need more
_TOKENS_KEY_BYTES = TOKENS_KEY.encode()
_SOURCE_KEY_BYTES = SOURCE_KEY.encode()


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


def encode_examples(batch: Sequence[Sequence[int] | np.ndarray], sources: Sequence[str]) -> list[bytes]:
    """[encode_example(ids, source) for ...] byte for byte, with the varints of the whole batch built
    in numpy (~15 ns per token instead of ~100 for a protobuf message per document; RESULTS.md).

    The layout is protobuf's deterministic one (map keys sorted: "source" before "text"). A batch
    holding a negative id or one >= 2^31, and every empty document, goes through encode_example.
    """
    arrays = [_int_array(ids) for ids in batch]
    full = [a for a in arrays if a.size]
    if not full:
        return [encode_example(a, s) for a, s in zip(arrays, sources)]
    flat = np.concatenate(full)
    if int(flat.min()) < 0 or int(flat.max()) >= 1 << 31:
        return [encode_example(a, s) for a, s in zip(arrays, sources)]
    sizes = np.fromiter(map(len, full), dtype=np.int64, count=len(full))
    payload, doc_bytes = _varints(flat, sizes)
    ends = np.cumsum(doc_bytes).tolist()
    heads: dict[str, bytes] = {}
    out = []
    start = doc = 0
    for array, source in zip(arrays, sources):
        if not array.size:
            out.append(encode_example(array, source))
            continue
        head = heads.get(source)
        if head is None:
            head = heads[source] = _entry(_SOURCE_KEY_BYTES, _field(1, _field(1, source.encode("utf-8"))))
        end = ends[doc]
        packed = _field(1, payload[start:end])            # Int64List.value, packed
        out.append(_field(1, head + _entry(_TOKENS_KEY_BYTES, _field(3, packed))))   # Example.features
        start = end
        doc += 1
    return out


def _int_array(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """int32 arrays (SentencePiece's) as they are; anything else converted as encode_example converts it."""
    if isinstance(ids, np.ndarray) and ids.dtype in (np.int32, np.int64):
        return ids.reshape(-1)
    return np.asarray(ids, dtype=np.int64).reshape(-1)


def _varints(ids: np.ndarray, sizes: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(protobuf varints of ids back to back, bytes per document) for 0 <= id < 2^31 and documents
    of `sizes` (> 0) ids: byte k of every varint is one vectorised column of an [ids x width] array
    (7-bit group, continuation bit), and the bytes a varint uses are picked in row order."""
    v = ids.astype(np.uint32)
    width = 1
    while width < _MAX_TOKEN_VARINT_BYTES and bool((v >> np.uint32(7 * width)).any()):
        width += 1
    bytes_VxW = np.empty((v.size, width), dtype=np.uint8)
    used_VxW = np.empty((v.size, width), dtype=np.bool_)
    used_VxW[:, 0] = True
    doc_bytes = sizes.copy()
    starts = np.cumsum(sizes) - sizes
    for k in range(width):
        group = (v >> np.uint32(7 * k)) & np.uint32(0x7F)
        if k + 1 < width:
            more = v >= np.uint32(1 << (7 * (k + 1)))   # the id needs byte k + 1
            group |= more.astype(np.uint32) << np.uint32(7)
            used_VxW[:, k + 1] = more
            doc_bytes += np.add.reduceat(more, starts, dtype=np.int64)
        bytes_VxW[:, k] = group
    return bytes_VxW[used_VxW].tobytes(), doc_bytes


def _varint(value: int) -> bytes:
    if value < 0x4000:      # every length field of a record under 16 KB
        return bytes((value,)) if value < 0x80 else bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, body: bytes) -> bytes:
    """A length-delimited field: tag (wire type 2), length, body."""
    return bytes((number << 3 | 2,)) + _varint(len(body)) + body


def _entry(key: bytes, feature: bytes) -> bytes:
    """One Features.feature map entry: {key: 1, value: 2}."""
    return _field(1, _field(1, key) + _field(2, feature))


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
