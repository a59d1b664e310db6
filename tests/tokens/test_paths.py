"""tokens.paths.join_each equals join, name by name, for local and gs:// directories."""
from hypothesis import given, settings, strategies as st

from tokens import paths

DIRS = ["", "/", "d", "d/", "/data/tok", "/data/tok/", "gs://b", "gs://b/", "gs://b/x//", "rel/dir"]
NAMES = st.lists(st.sampled_from(["", "a", "/abs", "a/b", "a//b", "/", "part-00001.array_record", "é x"]), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DIRS), NAMES)
def test_join_each_equals_join(directory, names):
    assert paths.join_each(directory, names) == [paths.join(directory, name) for name in names]
