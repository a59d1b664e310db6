import os

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.document import Document, Rejected
from pipelines.sources import FAMILIES, ReadLimits, parse_file
from pipelines.sources.read import ReadFamily
from tests.pipelines.sources import corpus


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return corpus.write_local(str(tmp_path_factory.mktemp("raw")))


def _local_records(root, family):
    from pipelines.sources import family_files
    return [r for path in family_files(family, root) for r in parse_file(family, path, root=root)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_parse_file_counts(root, family):
    records = _local_records(root, family)
    docs = [r for r in records if isinstance(r, Document)]
    rejects = [r for r in records if isinstance(r, Rejected)]
    assert (len(docs), len(rejects)) == corpus.EXPECTED[family]
    assert all(r.stage == "read" and r.reason_key for r in rejects)
    assert all(d.meta.get("file", "").startswith(family + "/") for d in docs)  # relative names


def test_read_family_matches_direct_parse(root):
    expected = {f: sorted((type(r).__name__, r.id, r.source) for r in _local_records(root, f)) for f in FAMILIES}
    with BeamPipeline() as p:
        for family in sorted(FAMILIES):
            out = p | f"Read {family}" >> ReadFamily(family, root)
            assert_that(out | f"Key {family}" >> beam.Map(lambda r: (type(r).__name__, r.id, r.source)),
                        equal_to(expected[family]), label=f"Check {family}")


def test_read_family_turns_file_errors_into_rejects(tmp_path):
    # A limit of the wrong type makes the stack reader raise TypeError mid-file: an
    # "unexpected" exception, which must become one Rejected instead of failing the job.
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "ok.parquet").write_bytes(corpus.stack_parquet([corpus.stack_row(0)]))
    p = beam.Pipeline()
    out = p | ReadFamily("stack", str(tmp_path), ReadLimits(max_file_bytes=None))
    assert_that(out | beam.Map(lambda r: (r.reason.split(":")[0], r.stage, r.meta["path"])),
                equal_to([("error", "read", "stack/ok.parquet")]))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["stack/errors"] == 1 and counters["stack/files"] == 1


def test_read_family_unknown_family():
    with pytest.raises(ValueError, match="unknown family"):
        ReadFamily("nope", "/tmp")


def test_parquet_files_become_one_work_item_per_row_group(tmp_path):
    """A large file is not one worker's job: ReadFamily expands it into (file, row group) items."""
    (tmp_path / "stack" / "data" / "python").mkdir(parents=True)
    rows = [corpus.stack_row(i) for i in range(500)]
    (tmp_path / "stack" / "data" / "python" / "big.parquet").write_bytes(corpus.stack_parquet(rows, row_group_size=100))
    (tmp_path / "stack" / "small.parquet").write_bytes(corpus.stack_parquet(rows[:3]))
    expected = sorted((r.id, r.meta["row"]) for path in sorted((tmp_path / "stack").rglob("*.parquet"))
                      for r in parse_file("stack", str(path), root=str(tmp_path)))
    assert len(expected) == 503
    p = beam.Pipeline()
    out = p | ReadFamily("stack", str(tmp_path)) | beam.Map(lambda r: (r.id, r.meta["row"]))
    assert_that(out, equal_to(expected))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["stack/files"] == 2 and counters["stack/work_items"] == 6


def test_read_family_applies_a_field_mapping(tmp_path):
    (tmp_path / "math").mkdir()
    (tmp_path / "math" / "m.jsonl").write_bytes(corpus.jsonl([{"uid": "a1", "body": "2 + 2 = 4"}]))
    with BeamPipeline() as p:
        out = p | ReadFamily("math", str(tmp_path), fields={"text": "body", "id": "uid"})
        assert_that(out | beam.Map(lambda r: (type(r).__name__, r.text, r.meta.get("original_id"))),
                    equal_to([("Document", "2 + 2 = 4", "a1")]))
