"""Caps and checks every reader shares: bomb defence, decompression, text sanity.

A reader never trusts its input's size: a 1 KB .zst can inflate to terabytes, one JSONL
line can be 10 GB, an .ipynb can be 500 MB of base64 plots. Each cap turns the excess
into a `Rejected` with a reason instead of an out-of-memory worker.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import re
import zlib
from typing import BinaryIO, Iterator

from pipelines.sources.streams import ReadError   # defined with the stream that raises it; re-exported

MiB = 1 << 20
GiB = 1 << 30


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """Per-file and per-record caps. Defaults sit far above real data and far below a bomb."""
    # Bytes read from one file after decompression (.gz/.zst), and bytes decoded from one Parquet
    # row group (measured batch by batch, not taken from the footer). SlimPajama chunks are
    # ~100-250 MB decompressed; Parquet row groups are usually 64-512 MB.
    max_file_bytes: int = 2 * GiB
    # Uncompressed bytes of one Parquet page, as its page header states (what decoding it allocates).
    # One value never spans pages, and a text over max_doc_chars (<= 4 bytes each) is rejected anyway,
    # so 80 MiB passes every keepable document; writers' default pages are ~1 MiB.
    max_page_bytes: int = 80 * MiB
    # Bytes of one decoded Parquet record batch (rows per batch are chosen from the page sizes to stay
    # under it) and so of its Python copy. Reading one row group holds about one page per column read,
    # one batch and its Python copy: with these defaults a few hundred MiB at most.
    max_batch_bytes: int = 64 * MiB
    # Bytes in one JSONL line before JSON parsing (one record).
    max_line_bytes: int = 64 * MiB
    # Characters in one document's text. The Stack's largest kept files are ~1 MB and
    # StarCoder drops files over 100k lines, so 16 Mi characters only stops pathological
    # records, while the quality filters make the real length decisions.
    max_doc_chars: int = 16 * MiB
    # Bytes of one notebook (.ipynb file or the "content" string of a jsonl row).
    max_notebook_bytes: int = 32 * MiB
    # Bytes of one Posts.xml for the in-memory reader (stackexchange.parse: previews, parse_file),
    # which groups a site's threads in a dict. The curate job reads Posts.xml by byte ranges and
    # buckets of row spans: no cap there (stackexchange_read.py, posts_buckets.py).
    max_xml_bytes: int = 1 * GiB
    # Notebook text outputs up to this many characters are kept as a "# output:" comment.
    max_notebook_output_chars: int = 1024


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [gzip.BadGzipFile, zlib.error, EOFError]
    try:
        import zstandard
        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


class CappedReader(io.RawIOBase):
    """Read-only stream that raises ReadError(reason) once more than `limit` bytes were read.

    Also turns codec failures of the wrapped decompressor into ReadError("corrupt_compressed").
    """

    def __init__(self, inner: BinaryIO, limit: int, reason: str):
        super().__init__()
        self._inner = inner
        self._limit = limit
        self._reason = reason
        self._errors = _decompression_errors()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self._limit + 1 - self.bytes_read if size is None or size < 0 else size
        try:
            data = self._inner.read(max(0, want))
        except self._errors as e:
            raise ReadError(f"corrupt_compressed: {type(e).__name__}: {e}") from e
        self.bytes_read += len(data)
        if self.bytes_read > self._limit:
            raise ReadError(f"{self._reason}: more than {self._limit} bytes")
        return data

    def readinto(self, buffer) -> int:  # io.RawIOBase protocol
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def compression_of(path: str) -> str | None:
    """'zst', 'gz' or None, by file extension."""
    lower = path.lower()
    if lower.endswith((".zst", ".zstd")):
        return "zst"
    if lower.endswith(".gz"):
        return "gz"
    return None


def open_decompressed(stream: BinaryIO, path: str, limits: ReadLimits = ReadLimits()) -> BinaryIO:
    """Decompress .zst/.gz by extension behind a byte cap; other files pass through unchanged.

    Reading past `limits.max_file_bytes` raises ReadError("decompression_limit: ...") instead
    of inflating a bomb; a truncated or corrupt stream hands out everything decoded before the
    damage, then raises ReadError("truncated_stream: ...") (streams.py).
    """
    kind = compression_of(path)
    if kind is None:
        return stream  # stays seekable (Parquet needs it); size is what is stored
    from pipelines.sources.streams import DecompressedStream   # keeps every line before a damaged block
    return CappedReader(DecompressedStream(stream, kind), limits.max_file_bytes, "decompression_limit")


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: object, limits: ReadLimits) -> str | None:
    """Why `text` cannot be a document, or None. Shared by every reader.

    NUL characters are rejected, not stripped: in code and prose they mark binary or
    corrupt content, and silently editing text would hide that. Lone surrogates (only
    reachable through JSON "\\ud800" escapes) cannot be written as UTF-8 downstream.
    """
    if not isinstance(text, str):
        return f"wrong_type: text is {type(text).__name__}"
    if len(text) > limits.max_doc_chars:
        return f"document_too_long: {len(text)} > {limits.max_doc_chars} chars"
    if not text.strip():
        return "empty_text"
    if "\x00" in text:
        return "nul_bytes"
    if _SURROGATE.search(text):
        return "invalid_unicode: lone surrogate"
    return None


def iter_lines(stream: BinaryIO, max_line_bytes: int, chunk_bytes: int = 1 * MiB
               ) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, bytes without newline) for each line; None for an over-long line.

    Reads fixed-size chunks, so a 10 GB line without a newline never sits in memory whole:
    it is skipped up to its newline and reported once as None.
    """
    buf = bytearray()
    lineno = 0
    skipping = False  # inside an over-long line already reported
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            break
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                if not skipping:
                    buf += chunk[start:]
                    if len(buf) > max_line_bytes:
                        lineno += 1
                        yield lineno, None
                        buf.clear()
                        skipping = True
                break
            if skipping:
                skipping = False
            else:
                buf += chunk[start:nl]
                lineno += 1
                yield lineno, (bytes(buf) if len(buf) <= max_line_bytes else None)
            buf.clear()
            start = nl + 1
    if buf and not skipping:
        lineno += 1
        yield lineno, (bytes(buf) if len(buf) <= max_line_bytes else None)


def scrub(value):
    """`value` with lone surrogates replaced by U+FFFD in every string (dicts and lists walked).

    Records must stay UTF-8 encodable all the way to Parquet: a "\\ud800" escape in a JSON
    field would otherwise crash the writer many stages later.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def checked_document(source: str, key: str, text: object, meta: dict, limits: ReadLimits):
    """Document(doc_id(source, key), ...) or, if `text` fails text_problem, its Rejected.

    `key` must be unique within a job: "<file>#<line N | row N>" (document_key); the user's own id
    goes in meta["original_id"]. Meta strings are scrubbed of lone surrogates; a rejected text
    keeps at most 64 Ki chars.
    """
    from pipelines.document import Document, doc_id
    problem = text_problem(text, limits)
    body = text if isinstance(text, str) else ""
    meta = scrub(meta)
    if problem is None:
        return Document(doc_id(source, key), source, body, meta)
    return Document(doc_id(source, key), source, scrub(body[:65536]), meta).reject(problem, "read")


def document_key(path: str, locator: str) -> str:
    """The job-unique key of the record at `locator` ("line 3", "row 7") of `path` (relative to ROOT)."""
    return f"{path}#{locator}"
