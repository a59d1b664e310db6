"""Readers over gs:// (local gcp-storage-emulator): the same records as from local disk."""
import uuid

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tokens import paths
from pipelines.sources import FAMILIES, family_files, parse_file
from pipelines.sources.read import ReadFamily
from tests.pipelines.sources import corpus

pytestmark = pytest.mark.gcs


@pytest.fixture(scope="module")
def roots(gcs_emulator, tmp_path_factory):
    local = corpus.write_local(str(tmp_path_factory.mktemp("raw")))
    remote = f"gs://{gcs_emulator}/raw-{uuid.uuid4().hex[:8]}"
    for per_family in corpus.files().values():
        for rel, data in per_family.items():
            paths.write_atomic(paths.join(remote, rel), data)
    return local, remote


def _records(root, family):
    return [r for path in family_files(family, root) for r in parse_file(family, path, root=root)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_parse_file_on_gcs_equals_local(roots, family):
    local, remote = roots
    from_gcs = _records(remote, family)
    assert from_gcs == _records(local, family)  # same ids, text, meta (relative names)
    assert len(from_gcs) == sum(corpus.EXPECTED[family])


def test_read_family_on_gcs_root(roots):
    local, remote = roots
    with beam.Pipeline() as p:
        for family in sorted(FAMILIES):
            expected = sorted(repr(r) for r in _records(local, family))
            out = p | f"Read {family}" >> ReadFamily(family, remote)
            assert_that(out | f"Repr {family}" >> beam.Map(repr), equal_to(expected), label=f"Check {family}")
