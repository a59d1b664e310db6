"""posts_buckets: a bucket of row spans reads back the in-memory reader's records, in a fixed order,
holds no thread past its cap, and a file that changed after its scan is one error that accounts for
every row of the bucket."""
import io
import random

import pytest

from pipelines.document import Rejected
from pipelines.sources import ReadLimits, posts_buckets, stackexchange
from pipelines.sources.posts_xml import iter_records, parse_record, read_prolog
from tests.pipelines.sources.corpus import POSTS
from tests.pipelines.sources.test_stackexchange_read import MESSY

NAME = "stackexchange/a.example.com/Posts.xml"


def _spans(data: bytes, buckets: int, limits: ReadLimits = ReadLimits()) -> dict[int, list[bytes]]:
    """The scan of stackexchange_read._ScanRange, without Beam: bucket -> spans."""
    stream = io.BytesIO(data)
    prolog = read_prolog(stream)
    out: dict[int, list[bytes]] = {}
    for record in iter_records(stream, 0, len(data), prolog.body_start, limits.max_line_bytes):
        for index, item in enumerate(parse_record(record, prolog.root, limits.max_line_bytes)):
            got = stackexchange.classify(NAME, item)
            what = f"@{item.offset}" if isinstance(got, Rejected) else f"q{got[0]}"
            out.setdefault(posts_buckets.bucket_of(what, buckets), []).append(
                posts_buckets.span(record.offset, len(record.data), index, record.too_long))
    return out


def _read(root, buckets: int, limits=ReadLimits(), shuffle=False):
    counts: dict[str, int] = {}

    def count(what, n):
        counts[what] = counts.get(what, 0) + n
    records = []
    path = str(root / NAME)
    for bucket, spans in sorted(_spans((root / NAME).read_bytes(), buckets, limits).items()):
        if shuffle:
            random.Random(bucket).shuffle(spans)
        spans, rejects = posts_buckets.sorted_spans(spans)
        records += list(posts_buckets.read_item(((path, bucket), (spans, rejects)), str(root), limits, count))
    return records, counts


def _key(r):
    return type(r).__name__, r.id, getattr(r, "reason", ""), r.text, repr(sorted(r.meta.items()))


@pytest.fixture
def root(tmp_path):
    (tmp_path / NAME).parent.mkdir(parents=True)
    (tmp_path / NAME).write_bytes(POSTS.rstrip().removesuffix(b"</posts>") + MESSY.split(b"<posts>\n", 1)[1]
                                  + b"\n</posts>\n")
    return tmp_path


@pytest.mark.parametrize("buckets", [1, 3, 64])
@pytest.mark.parametrize("max_doc_chars", [ReadLimits().max_doc_chars, 12])
def test_buckets_give_the_in_memory_records_in_a_fixed_order(root, buckets, max_doc_chars):
    limits = ReadLimits(max_doc_chars=max_doc_chars)
    expected = sorted(_key(r) for r in stackexchange.parse(io.BytesIO((root / NAME).read_bytes()), NAME, limits)
                      if not r.meta.get("locator") == "end of file")   # the file's own reject comes from the split
    records, counts = _read(root, buckets, limits)
    assert sorted(_key(r) for r in records) == expected
    assert [_key(r) for r in _read(root, buckets, limits, shuffle=True)[0]] == [_key(r) for r in records]
    assert counts["in_threads"] + counts["rejected"] == sum(1 for _ in _spans((root / NAME).read_bytes(), 1)[0])
    if max_doc_chars == 12:   # every thread is over 4 x 12 chars of HTML: rejected whole, title kept
        too_long = [r for r in records if r.reason.startswith("document_too_long: thread html")]
        assert too_long and all(r.meta["rows"] >= 1 for r in too_long)


def test_a_file_changed_after_its_scan_is_one_error_for_the_bucket(root):
    spans = _spans((root / NAME).read_bytes(), 1)[0]
    (root / NAME).write_bytes((root / NAME).read_bytes()[:200])   # cut short after the scan
    counts = {}
    records = list(posts_buckets.read_item(((str(root / NAME), 0), (spans, [])), str(root), ReadLimits(),
                                           lambda what, n: counts.__setitem__(what, counts.get(what, 0) + n)))
    assert [(r.reason_key, r.meta["locator"]) for r in records] == [("error", "rows of bucket 0")]
    assert "changed since it was scanned" in records[0].reason
    assert counts == {"rejected": len(spans)}


def test_bucket_count_follows_the_file_size_unless_set():
    mib = 1 << 20
    assert posts_buckets.bucket_count(0) == 1
    assert posts_buckets.bucket_count(64 * mib) == 1
    assert posts_buckets.bucket_count(64 * mib + 1) == 2
    assert posts_buckets.bucket_count(2 << 30) == 32
    assert posts_buckets.bucket_count(2 << 30, num_shards=3) == 3
    assert posts_buckets.bucket_count(10, bucket_bytes=3) == 4


def test_a_thread_past_its_cap_stops_being_held():
    """The rows of a thread are dropped the moment its HTML passes 4 x max_doc_chars; only the row count
    and the question's title stay (the document_too_long record needs nothing else)."""
    thread = posts_buckets._Thread()
    thread.add((10, {"PostTypeId": "1", "Title": "T", "Body": "x" * 30}), bound=40)
    assert thread.rows is not None and thread.size == 31
    thread.add((20, {"PostTypeId": "2", "Body": "y" * 30}), bound=40)
    thread.add((30, {"PostTypeId": "2", "Body": "z" * 10**6}), bound=40)
    assert thread.rows is None and thread.count == 3 and thread.title == "T"
