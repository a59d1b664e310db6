"""Posts.xml as byte ranges: the prolog check, records, and the rule that any cut points read
every record exactly once (the property that lets workers split one file)."""
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sources import posts_xml as px
from pipelines.sources.posts_xml import Forbidden, Prolog, Record, iter_items, iter_records, parse_record
from tests.pipelines.sources.corpus import POSTS

MAX = 1 << 16


def _prolog(data: bytes) -> Prolog:
    return px.read_prolog(io.BytesIO(data))


def _items(data: bytes, cuts=(), max_record_bytes=MAX):
    """Items of `data` read as the ranges between `cuts` (plus 0 and len), concatenated."""
    prolog = _prolog(data)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    out = []
    for start, end in zip(bounds, bounds[1:]):
        out += list(iter_items(io.BytesIO(data), start, end, prolog, max_record_bytes))
    return out


def _summary(items):
    return [(i.offset, i.reason or "", (i.attrs or {}).get("Id"), i.forbidden) for i in items]


@pytest.mark.parametrize("data,expected", [
    (POSTS, Prolog(46, "posts")),
    (b"\xef\xbb\xbf<?xml version='1.0'?>\n<posts>\n</posts>", Prolog(32, "posts")),
    (b'<row Id="1"/>\n<row Id="2"/>\n', Prolog(0, None)),          # rows without a <posts> wrapper
    (b"<posts/>\n", Prolog(8, None)),                              # an empty root holds no rows
    (b"", Prolog(None, None)), (b"  \n", Prolog(None, None)), (b'<?xml version="1.0"?>', Prolog(None, None)),
])
def test_prolog_finds_where_rows_begin(data, expected):
    assert _prolog(data) == expected


@pytest.mark.parametrize("data,reason", [
    (b'<?xml version="1.0"?><!DOCTYPE posts [<!ENTITY a "b">]><posts/>', "xml_entities_forbidden: entity a"),
    (b'<?xml version="1.0"?><!DOCTYPE posts SYSTEM "file:///etc/passwd"><posts/>',
     "xml_entities_forbidden: external DTD file:///etc/passwd"),
    (b'<!DOCTYPE posts><posts/>', "xml_entities_forbidden: a DTD (rows are parsed without one)"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><posts/>', "unsupported_encoding: ISO-8859-1 (Posts.xml is UTF-8)"),
    ('<?xml version="1.0" encoding="utf-16"?><posts/>'.encode("utf-16"), "unsupported_encoding: UTF-16 (Posts.xml is UTF-8)"),
])
def test_prolog_refuses_dtds_entities_and_other_encodings(data, reason):
    with pytest.raises(Forbidden) as e:
        _prolog(data)
    assert str(e.value) == reason


def test_prolog_reads_a_bounded_head():
    with pytest.raises(Exception, match="no root element"):
        _prolog(b"<!-- " + b"x" * (px.PROLOG_MAX_BYTES + 10) + b" -->\n<posts/>")


def test_records_rows_and_problems_with_offsets():
    data = (b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
            b'  <row Id="1" PostTypeId="1" Body="two&#xA;lines" />\n'
            b'  <Row Id="2" PostTypeId="1" />\n'                    # other casing: not a row
            b'  <row Id="3" Body="raw\nnewline\n\ninside" />\n'      # one row over three lines
            b'stray words\n'
            b'  <row Id="4" Body="&lol9;" />\n'                     # no DTD: an undefined entity
            b'  <row Id="5"><child/></row>\n'
            b'  <row Id="6" Body="x"')                              # cut mid-row, no </posts>
    items = _items(data)
    at = data.find
    assert _summary(items) == [
        (at(b'<row Id="1"'), "", "1", False), (at(b'<Row'), "unknown_row_element: Row", None, False),
        (at(b'<row Id="3"'), "", "3", False), (at(b"stray"), "stray_text: text between rows", None, False),
        # a malformed record is located by its first byte, the parser's error position follows
        (at(b'  <row Id="4"'), "malformed_row: undefined entity at byte %d" % at(b'<row Id="4"'), None, False),
        (at(b'<row Id="5"'), "malformed_row: nested element <child>", None, False),
        (at(b'  <row Id="6"'), f"malformed_row: not well-formed (invalid token) at byte {len(data)}", None, False)]
    assert items[0].attrs["Body"] == "two\nlines" and items[2].attrs["Body"] == "raw newline  inside"
    assert "Id=\"2\"" in items[1].raw
    assert px.tail_problem(io.BytesIO(data), len(data), _prolog(data)).startswith("truncated_xml")
    assert px.tail_problem(io.BytesIO(POSTS), len(POSTS), _prolog(POSTS)) is None


def test_a_whole_file_on_one_line():
    data = b'<?xml version="1.0"?><posts><row Id="1"/><row Id="2"/><Row Id="3"/></posts>'
    assert [(i.reason or "", (i.attrs or {}).get("Id")) for i in _items(data)] == [
        ("", "1"), ("", "2"), ("unknown_row_element: Row", None)]


@pytest.mark.parametrize("markup", [b"<!ENTITY x 'y'>", b"<!DOCTYPE posts>", b"<!ATTLIST row Body CDATA 'x'>",
                                    b"<! entity x 'y'>"])
def test_dtd_markup_in_the_body_is_forbidden(markup):
    data = b'<posts>\n<row Id="1"/>\n' + markup + b'\n<row Id="2"/>\n</posts>\n'
    items = _items(data)
    assert [i.forbidden for i in items] == [False, True, False]
    assert items[1].reason.startswith("xml_entities_forbidden: <!") and "at byte 22" in items[1].reason


def test_over_long_record_is_cut_not_buffered():
    long = b'<row Id="1" Body="' + b"a" * 5000 + b'"/>\n'
    data = b"<posts>\n" + long + b'<row Id="2" Body="' + b"b\n" * 3000 + b'"/>\n<row Id="3"/>\n</posts>\n'
    records = list(iter_records(io.BytesIO(data), 0, len(data), 7, 1000))
    second = 8 + len(long)   # 3,000 continuation lines of 2 bytes: one record, cut at 1000 bytes
    assert [(r.offset, r.too_long, len(r.data)) for r in records] == [
        (8, True, 1000), (second, True, 1000), (second + 18 + 6004, False, 14), (len(data) - 9, False, 9)]
    reasons = [i.reason for r in records for i in parse_record(r, "posts", 1000)]
    assert reasons == ["row_too_long: more than 1000 bytes"] * 2 + [None]


def test_ranges_starting_inside_a_multiline_row_leave_it_to_its_owner():
    data = b'<posts>\n<row Id="1" Body="a\nb\nc\nd"/>\n<row Id="2"/>\n</posts>\n'
    whole = _summary(_items(data))
    for cut in range(len(data)):
        assert _summary(_items(data, [cut])) == whole, cut


# Pieces a Posts.xml body is made of, including the awkward ones.
PIECES = st.sampled_from([
    b'  <row Id="1" PostTypeId="1" Title="t" Body="&lt;p&gt;q&lt;/p&gt;" />\n',
    b'  <row Id="2" PostTypeId="2" ParentId="1" Body="a&#xA;b" />\n',
    b'  <row Id="3" Body="multi\nline\n\n value" />\n',
    b'<row Id="4"/><row Id="5"/>\n',
    b'  <Row Id="6" />\n', b"\n", b"   \n", b"stray\n", b'<row Id="7" Body="bad & amp"/>\n',
    b'<row Id="8" Body="\xc3\xa9t\xc3\xa9"/>\n', b'<row Id="9" Body="\xff"/>\n',
    b'<row Id="10" Body="' + b"z" * 300 + b'"/>\n', b"<!ENTITY e 'x'>\n",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(PIECES, max_size=12), cuts=st.lists(st.integers(0, 4000), max_size=6),
       header=st.sampled_from([b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n', b"<posts>", b""]),
       footer=st.sampled_from([b"</posts>\n", b"</posts>", b""]), max_record=st.sampled_from([64, 4096]))
def test_any_cut_points_read_every_record_exactly_once(body, cuts, header, footer, max_record):
    if not header and body and not body[0].lstrip()[:2] in (b"<r", b"<R"):
        header = b"<posts>\n"     # without a wrapper, the file must start with an element
    data = header + b"".join(body) + (footer if header else b"")
    assert _summary(_items(data, cuts, max_record)) == _summary(_items(data, (), max_record))


def test_items_of_a_record_parse_alone():
    items = parse_record(Record(100, b'  <row Id="1" Title="a &amp; b"/>\n'), "posts", MAX)
    assert [(i.offset, i.attrs) for i in items] == [(102, {"Id": "1", "Title": "a & b"})]
    assert parse_record(Record(0, b"</posts>\n"), "posts", MAX) == []
