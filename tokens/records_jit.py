"""Compiled wire decoder (numba) for the token records `tokens.records.encode_example` writes.

Why: decoding the packed varints with numpy took ~10 array passes and ~15 calls per record, and short
records went through protobuf's Python objects; that decode was ~85% of reading a document
(benchmarks/loader.py). One compiled pass walks the Example to the packed "text" ids, decodes them
and takes their maximum (the vocabulary check) at a few ns per token.

`decode(buf)` returns (ids int32, max id, status). Status OK: ids are the record's tokens. FALLBACK: the
layout is not the one encode_example writes (other field order, unpacked ids, damage in the message
structure): the caller lets protobuf decide. Any other status is a damaged packed id list, named by
STATUS_MESSAGES. Compiled code is cached next to this file (or numba's user cache).
"""
from __future__ import annotations

import numba
import numpy as np

OK, FALLBACK, TRUNCATED, OVERLONG, OUT_OF_INT32 = 0, 1, 2, 3, 4
STATUS_MESSAGES = {TRUNCATED: "packed token list ends inside a varint",
                   OVERLONG: "token id varint longer than 5 bytes",
                   OUT_OF_INT32: "token id outside int32 range"}
_TEXT = np.frombuffer(b"text", np.uint8)


@numba.njit(cache=True)
def _varint(buf, pos, end):
    """(value, next position) of the varint at pos; next position -1 when truncated or overlong."""
    result, shift = 0, 0
    while pos < end:
        byte = np.int64(buf[pos])
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            return 0, -1
    return 0, -1


@numba.njit(cache=True)
def _length_delimited(buf, pos, end, field):
    """(start, end) of the length-delimited field `field` whose key is at pos; (-1, -1) otherwise."""
    key, pos = _varint(buf, pos, end)
    if pos < 0 or key != (field << 3 | 2):
        return -1, -1
    size, pos = _varint(buf, pos, end)
    if pos < 0 or pos + size > end:
        return -1, -1
    return pos, pos + size


@numba.njit(cache=True)
def _is_text(buf, start, end, key):
    if end - start != key.size:
        return False
    for i in range(key.size):
        if buf[start + i] != key[i]:
            return False
    return True


@numba.njit(cache=True)
def _packed_span(buf, key):
    """Example{features(1){feature(1): entry{key(1), value(2): Feature{int64_list(3){value(1) packed}}}}}:
    (start, end) of the one packed id list under `key`; (-1, -1) for any other layout."""
    n = buf.size
    found_start, found_end, found = -1, -1, 0
    pos = 0
    while pos < n:                                   # top level: only features (field 1) fields
        f_start, f_end = _length_delimited(buf, pos, n, 1)
        if f_start < 0:
            return -1, -1
        entry = f_start
        while entry < f_end:                         # map entries of Features.feature
            e_start, e_end = _length_delimited(buf, entry, f_end, 1)
            if e_start < 0:
                return -1, -1
            k_start, k_end = _length_delimited(buf, e_start, e_end, 1)
            if k_start < 0:
                return -1, -1
            if _is_text(buf, k_start, k_end, key):
                v_start, v_end = _length_delimited(buf, k_end, e_end, 2)
                if v_start < 0 or v_end != e_end:
                    return -1, -1
                l_start, l_end = _length_delimited(buf, v_start, v_end, 3)
                if l_start < 0 or l_end != v_end:
                    return -1, -1
                p_start, p_end = _length_delimited(buf, l_start, l_end, 1)
                if p_start < 0 or p_end != l_end:
                    return -1, -1
                found_start, found_end, found = p_start, p_end, found + 1
            entry = e_end
        pos = f_end
    if found != 1:
        return -1, -1
    return found_start, found_end


@numba.njit(cache=True)
def _decode(buf, key):
    start, end = _packed_span(buf, key)
    if start < 0:
        return np.empty(0, np.int32), -1, FALLBACK
    count = 0
    for i in range(start, end):
        if buf[i] < 0x80:
            count += 1
    out = np.empty(count, np.int32)
    if end > start and buf[end - 1] >= 0x80:
        return out, -1, TRUNCATED
    n, value, shift, top = 0, 0, 0, -1
    for i in range(start, end):
        byte = np.int64(buf[i])
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >= 2147483648:
                return out, -1, OUT_OF_INT32
            out[n] = value
            if value > top:
                top = value
            n += 1
            value, shift = 0, 0
        else:
            shift += 7
            if shift >= 35:
                return out, -1, OVERLONG
    return out, top, OK


def decode(record: bytes) -> tuple[np.ndarray, int, int]:
    """(ids int32, max id or -1 when empty, status) of one record; see the module docstring."""
    return _decode(np.frombuffer(record, np.uint8), _TEXT)
