"""Token records: one serialized `tf.train.Example` per document, in ArrayRecord shards.

The record format is MaxText's pre-tokenized input (int64 feature "text" with the
token ids, EOS appended; bytes feature "source"), built from a vendored copy of the
Example proto (tokens/proto/example.proto) so no TensorFlow is needed. The fast wire
decoder reads the packed ids of long records straight into numpy (tokens.source uses it).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tokens.proto import example_pb2

TOKENS_KEY = "text"     # MaxText: train_data_columns: ['text']
SOURCE_KEY = "source"
_MAX_TOKEN_VARINT_BYTES = 5   # ids < 2**31: token ids never need more
_TOKENS_KEY_BYTES = TOKENS_KEY.encode()
_SOURCE_KEY_BYTES = SOURCE_KEY.encode()
# Below this record size protobuf's C parser beats the numpy varint decode (see
# benchmarks/records_decode.py and RESULTS.md); above it the fast path wins.
FAST_PATH_MIN_BYTES = 640


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


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the protobuf varint at `pos`; CorruptRecordError past `end`."""
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            break
    raise CorruptRecordError("truncated or overlong varint")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field; varints yield their value as start."""
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire == 2:
            size, pos = read_varint(buf, pos, end)
            if pos + size > end:
                raise CorruptRecordError("length-delimited field runs past its message")
            yield number, wire, pos, pos + size
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise CorruptRecordError("fixed-width field runs past its message")
            yield number, wire, pos, pos
        else:
            raise CorruptRecordError(f"unsupported wire type {wire}")


def _packed_span(record: bytes) -> tuple[int, int] | None:
    """Locate the packed int64 payload of feature "text"; None when the layout is unusual.

    Straight-line walk of Example{features{feature<key, Feature{int64_list{value}}>}}:
    cheap enough that the numpy decode of long documents wins overall.
    """
    n, spans = len(record), []
    for f_num, f_wire, f_start, f_end in _fields(record, 0, n):
        if f_num != 1 or f_wire != 2:
            return None
        pos = f_start
        while pos < f_end:                       # map entries of Features.feature
            if record[pos] != 0x0A:
                return None
            size, pos = read_varint(record, pos + 1, f_end)
            e_end = pos + size
            if e_end > f_end:
                raise CorruptRecordError("map entry runs past its message")
            key, value = None, None
            for k_num, k_wire, k_start, k_end in _fields(record, pos, e_end):
                if k_wire == 2 and k_num == 1:
                    key = record[k_start:k_end]
                elif k_wire == 2 and k_num == 2:
                    value = (k_start, k_end)
            pos = e_end
            if key != _TOKENS_KEY_BYTES or value is None:
                continue
            for v_num, v_wire, v_start, v_end in _fields(record, *value):
                if v_num != 3 or v_wire != 2:
                    return None
                for p_num, p_wire, p_start, p_end in _fields(record, v_start, v_end):
                    if p_num != 1 or p_wire != 2:
                        return None
                    spans.append((p_start, p_end))
    return spans[0] if len(spans) == 1 else None


def _decode_varints(payload: np.ndarray) -> np.ndarray:
    """Vectorised varint decode of a packed payload (uint8) into int64 values."""
    if payload.size == 0:
        return np.zeros(0, np.int64)
    if payload[-1] & 0x80:
        raise CorruptRecordError("packed token list ends inside a varint")
    ends = np.flatnonzero(payload < 0x80)
    if ends.size == payload.size:          # every id < 128
        return payload.astype(np.int64)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if int(lengths.max()) > _MAX_TOKEN_VARINT_BYTES:
        raise CorruptRecordError("token id varint longer than 5 bytes")
    shift_B = 7 * (np.arange(payload.size) - np.repeat(starts, lengths))
    values_B = (payload & 0x7F).astype(np.int64) << shift_B
    return np.add.reduceat(values_B, starts)


def _packed_values(record: bytes) -> np.ndarray | None:
    """int64 ids from the packed varints of a long record in `encode_example`'s layout (each in [0, 2**35):
    at most 5 varint bytes); None when the protobuf parse has to decide."""
    if len(record) < FAST_PATH_MIN_BYTES:
        return None
    span = _packed_span(record)
    if span is None:
        return None
    payload = np.frombuffer(record, dtype=np.uint8, count=span[1] - span[0], offset=span[0])
    return _decode_varints(payload)


def decode_tokens(record: bytes) -> np.ndarray:
    """Fast path: token ids (int32) straight from the packed varints, no message objects.

    Short records and layouts other than the one `encode_example` writes (e.g.
    unpacked ids) go through the protobuf parse, so it accepts what protobuf accepts.
    """
    values = _packed_values(record)
    if values is None:
        return decode_example(record)[0]
    return _to_int32(values)
