"""Greedy sequential packing of documents into rows of seq_len + 1 tokens (the paper does not describe its packer).

  * Documents go into the current row in pick order; a row closes when fewer than 2 slots remain (the free
    slot is padding), so at most one slot per row is wasted besides the tail of a split document.
  * A document longer than the space left is split: its continuation starts the next row as a fresh
    segment whose positions restart at 0, and overlaps the fragment before it by one token, so every
    next-token transition inside a document is trained exactly once.
  * inputs = row[:-1], targets = row[1:]; loss_mask is 1 where input and target share a segment, so no loss
    crosses documents (each document ends with its EOS, which is predicted).
  * `document_ids` (index within its source, -1 on padding) rides along for provenance and tests.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Carry = tuple  # (source_id, document_index, offset) of a split document's continuation, or None
NextDocument = Callable[[], "tuple[int, int, np.ndarray] | None"]  # -> (source_id, doc index, tokens) | None


class PackBuffer:
    """One reused [rows, seq_len + 1] token buffer, filled row by row.

    Per document only its tokens are copied and its span (segment, length, source, document) noted; a row's
    padding is one more span. `arrays()` expands the spans of the batch into segments, positions, sources
    and documents with a few np.repeat calls (per-document slice writes of four metadata arrays and their
    masks were most of the packing cost: benchmarks/loader.py)."""

    def __init__(self, rows: int, seq_len: int, pad_id: int = 0):
        width = seq_len + 1
        self.rows, self.width, self.pad_id = rows, width, pad_id
        self.tokens = np.full((rows, width), pad_id, np.int32)
        self._spans: list[list[tuple[int, int, int, int]]] = [[] for _ in range(rows)]

    def fill_row(self, r: int, next_document: NextDocument, read: Callable[[int, int], np.ndarray],
                 carry: Carry | None) -> tuple[bool, Carry | None]:
        """Pack row r (see pack_row); returns (row holds a segment, new carry)."""
        width, tokens_W = self.width, self.tokens[r]
        spans = self._spans[r] = []
        fill = segment = 0
        while width - fill >= 2:
            if carry is not None:
                sid, index, offset = carry
                doc = read(sid, index)
            else:
                picked = next_document()
                if picked is None:
                    break
                (sid, index, doc), offset = picked, 0
            carry = None
            size = len(doc)
            take = min(size - offset, width - fill)
            if take <= 0:
                continue  # an empty document: nothing to pack
            segment += 1
            tokens_W[fill:fill + take] = doc[offset:offset + take]
            spans.append((segment, take, sid, index))
            fill += take
            if offset + take < size:
                carry = (sid, index, offset + take - 1)  # one token of overlap: no transition is lost
        if fill < width:
            tokens_W[fill:] = self.pad_id
            spans.append((0, width - fill, -1, -1))
        return segment > 0, carry

    def arrays(self) -> dict[str, np.ndarray]:
        """Fresh [rows, seq_len] arrays: inputs = tokens[:-1], targets = tokens[1:], loss mask where input and
        target share a segment. The spans of all rows cover the batch in row-major order."""
        n, width = self.rows, self.width
        span_S4 = np.array([span for row in self._spans for span in row], np.int32).reshape(-1, 4)
        length_S = span_S4[:, 1]
        segments = np.repeat(span_S4[:, 0], length_S).reshape(n, width)
        positions = np.arange(n * width, dtype=np.int32) - np.repeat(np.cumsum(length_S) - length_S, length_S)
        positions = positions.reshape(n, width)
        positions[segments == 0] = 0
        sources = np.repeat(span_S4[:, 2], length_S).reshape(n, width)
        documents = np.repeat(span_S4[:, 3], length_S).reshape(n, width)
        same = (segments[:, :-1] == segments[:, 1:]) & (segments[:, :-1] > 0)
        return {"inputs": np.ascontiguousarray(self.tokens[:, :-1]),
                "targets": np.ascontiguousarray(self.tokens[:, 1:]),
                "segment_ids": np.ascontiguousarray(segments[:, :-1]),
                "positions": np.ascontiguousarray(positions[:, :-1]),
                "loss_mask": same.astype(np.float32),
                "source_ids": np.ascontiguousarray(sources[:, :-1]),
                "document_ids": np.ascontiguousarray(documents[:, :-1])}


def pack_row(seq_len: int, next_document: NextDocument, read: Callable[[int, int], np.ndarray],
             carry: Carry | None, pad_id: int = 0) -> tuple[dict[str, np.ndarray] | None, Carry | None]:
    """Fill one row of seq_len + 1 tokens; return (row arrays of length seq_len, new carry).

    `next_document()` yields the next pick (None when a finite stream is exhausted); `read(source_id, index)`
    re-reads a carried document. Returns (None, None) when the stream is exhausted and the row is empty."""
    buffer = PackBuffer(1, seq_len, pad_id)
    filled, carry = buffer.fill_row(0, next_document, read, carry)
    if not filled:
        return None, None
    return {key: value[0] for key, value in buffer.arrays().items()}, carry


def empty_row(seq_len: int, pad_id: int = 0) -> dict[str, np.ndarray]:
    """A row of padding only (loss_mask 0): fills the last eval batch."""
    pad = np.full(seq_len, pad_id, np.int32)
    zeros, minus = np.zeros(seq_len, np.int32), np.full(seq_len, -1, np.int32)
    return {"inputs": pad, "targets": pad.copy(), "segment_ids": zeros, "positions": zeros.copy(),
            "loss_mask": np.zeros(seq_len, np.float32), "source_ids": minus, "document_ids": minus.copy()}
