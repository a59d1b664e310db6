"""pipelines.curate_outputs.remove_stale_shards: only the job's own names, in its own folders."""
from __future__ import annotations

import os

from pipelines.curate_outputs import remove_stale_shards


def test_stale_shards_and_shard_temporaries_go_other_files_stay(tmp_path):
    out = tmp_path / "out[1]"
    ours = ["part-00000-of-00002.parquet", ".part-00001-of-00002.parquet.tmp-" + "ab" * 16]   # a crashed write's
    theirs = ["notes.txt", ".part-00001-of-00002.parquet.tmp-mine", "part-1.parquet"]
    for kind in ("kept", "rejected"):
        (out / kind / "math").mkdir(parents=True)
        for name in ours + theirs:
            (out / kind / "math" / name).write_bytes(b"x")
    (tmp_path / "out1" / "kept" / "math").mkdir(parents=True)           # what `out[1]` matches as a glob
    (tmp_path / "out1" / "kept" / "math" / ours[0]).write_bytes(b"sibling")
    remove_stale_shards(str(out), ["math"])
    for kind in ("kept", "rejected"):
        assert sorted(os.listdir(out / kind / "math")) == sorted(theirs)
    assert (tmp_path / "out1" / "kept" / "math" / ours[0]).read_bytes() == b"sibling"
