"""ReadPosts (Beam): any byte-range size gives the in-memory reader's records, rows meet their
question through the GroupByKey, and the row counters account for every row."""
import io
import uuid

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines import beam_files
from tokens import paths
from pipelines.document import Rejected
from pipelines.sources import ReadLimits, stackexchange
from pipelines.sources.read import ReadFamily
from pipelines.sources.stackexchange_read import ReadPosts
from pipelines.steps import NAMESPACE
from tests.pipelines.sources.corpus import POSTS
from tests.pipelines.sources.test_stackexchange import DUPLICATES

MIDFILE_DTD = POSTS.replace(b'  <row Id="4"', b'<!ENTITY x SYSTEM "file:///etc/passwd">\n  <row Id="4"')
MESSY = (b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
         b'  <row Id="10" PostTypeId="2" ParentId="11" Score="5" Body="&lt;p&gt;early answer&lt;/p&gt;" />\n'
         b'  <Row Id="12" PostTypeId="1" Body="cased" />\n'
         b'  <row Id="11" PostTypeId="1" AcceptedAnswerId="13" Title="Q" Body="&lt;p&gt;raw\nnewline&lt;/p&gt;" />\n'
         b'junk between rows\n'
         b'  <row Id="13" PostTypeId="2" ParentId="11" Score="1" Body="&lt;p&gt;accepted&lt;/p&gt;" />\n'
         b'  <row Id="14" PostTypeId="2" ParentId="11" Body="&amp;bad &undefined;" />\n'
         b'  <row PostTypeId="1" Body="no id" /><row Id="15" PostTypeId="5" Body="wiki" />\n'
         b'  <row Id="16" PostTypeId="1" Title="cut" Body="cut sh')
FILES = {  # relative path -> (bytes, rows read, rows in refused files)
    "stackexchange/a.example.com/Posts.xml": (POSTS, 5, 0),
    "stackexchange/b.example.com/Posts.xml": (DUPLICATES, 6, 0),
    "stackexchange/c.example.com/Posts.xml": (MIDFILE_DTD, 6, 6),
    "stackexchange/d.example.com/Posts.xml": (MESSY, 9, 0),
    "stackexchange/e.example.com/Posts.xml": (b"", 0, 0),
    "stackexchange/f.example.com/Posts.xml": (b'<?xml version="1.0"?>\n<!DOCTYPE posts [<!ENTITY a "b">]>\n'
                                              b'<posts>\n<row Id="1" PostTypeId="1" Body="&a;"/>\n</posts>\n', 1, 1),
}


def _key(record):
    return type(record).__name__, record.id, getattr(record, "reason", ""), record.text, repr(sorted(record.meta.items()))


def _expected(root=None):
    return sorted(_key(r) for rel, (data, _, _) in FILES.items()
                  for r in stackexchange.parse(io.BytesIO(data), rel))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("raw")
    for rel, (data, _, _) in FILES.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return str(base)


def _run(root, range_bytes, limits=ReadLimits(), num_shards=0):
    p = beam.Pipeline()
    files = p | beam.Create(sorted(beam_files.match(paths.join(root, "stackexchange", "*", "Posts.xml"))))
    out = files | ReadPosts(root, limits, range_bytes, num_shards)
    return p, out


def _rows_counters(result):
    """Row counters summed over the steps that use them (as the curate report does)."""
    from pipelines.report.funnel import counters_from_metrics
    counters = counters_from_metrics(c for c in result.metrics().query()["counters"]
                                     if c.key.metric.namespace == NAMESPACE)
    return {name.split("/rows/")[1]: n for name, n in counters.items() if "/rows/" in name}


@pytest.mark.parametrize("range_bytes", [1, 37, 1 << 20])
def test_any_range_size_gives_the_in_memory_records(root, range_bytes):
    p, out = _run(root, range_bytes)
    assert_that(out | beam.Map(_key), equal_to(_expected()))
    result = p.run()
    result.wait_until_finish()
    rows = _rows_counters(result)
    assert rows["in"] == sum(n for _, n, _ in FILES.values())
    assert rows["in_refused_files"] == sum(n for _, _, n in FILES.values())
    assert rows["in"] == rows["in_threads"] + rows["rejected"] + rows["in_refused_files"]


def test_threads_split_into_many_buckets_per_file_give_the_same_records(root):
    """Rows of one thread land in one bucket (file, question Id hash) whatever the bucket count."""
    p, out = _run(root, 37, num_shards=7)
    assert_that(out | beam.Map(_key), equal_to(_expected()))
    result = p.run()
    result.wait_until_finish()
    rows = _rows_counters(result)
    assert rows["in"] == rows["in_threads"] + rows["rejected"] + rows["in_refused_files"]
    assert rows["in_refused_files"] == sum(n for _, _, n in FILES.values())


def test_read_family_routes_stackexchange_through_ranges(root):
    with beam.Pipeline() as p:
        out = p | ReadFamily("stackexchange", root)
        assert_that(out | beam.Map(_key), equal_to(_expected()))


def test_a_range_that_fails_becomes_an_error_record_and_the_job_goes_on(root):
    # max_line_bytes of the wrong type makes every range raise inside the reader.
    p, out = _run(root, 1 << 20, ReadLimits(max_line_bytes=None))
    errors = out | beam.Filter(lambda r: isinstance(r, Rejected) and r.reason_key == "error")
    assert_that(errors | beam.Map(lambda r: (r.meta["path"], r.meta["locator"].split(" ")[0])),
                equal_to([(rel, "bytes") for rel, (data, n, _) in FILES.items()
                          if n and b"<!DOCTYPE" not in data]))   # a DTD in the prolog: refused, no ranges
    result = p.run()
    result.wait_until_finish()


@pytest.mark.gcs
def test_ranges_over_gcs(gcs_emulator):
    remote = f"gs://{gcs_emulator}/se-{uuid.uuid4().hex[:8]}"
    for rel, (data, _, _) in FILES.items():
        paths.write_atomic(paths.join(remote, rel), data)
    p, out = _run(remote, 29)
    assert_that(out | beam.Map(_key), equal_to(_expected()))
    p.run().wait_until_finish()


def test_a_posts_xml_linked_out_of_the_input_is_rejected_unread(tmp_path):
    """13.2 for the splittable reader: a Posts.xml symlinked to a file outside --input is one
    `symlink_outside_input` reject with no text; none of its rows is read."""
    outside = tmp_path / "secret" / "Posts.xml"
    outside.parent.mkdir()
    outside.write_bytes(POSTS)
    base = tmp_path / "in"
    (base / "stackexchange" / "evil.example.com").mkdir(parents=True)
    (base / "stackexchange" / "evil.example.com" / "Posts.xml").symlink_to(outside)
    p = beam.Pipeline()
    out = p | ReadFamily("stackexchange", str(base))
    assert_that(out | beam.Map(lambda r: (type(r).__name__, r.id, r.reason, r.text)),
                equal_to([("Rejected", r.id, "symlink_outside_input", "")
                          for r in [_rejected_id("stackexchange/evil.example.com/Posts.xml")]]))
    p.run().wait_until_finish()


def _rejected_id(name):
    from pipelines.document import rejected_input
    return rejected_input("stackexchange", name, "file", "symlink_outside_input")
