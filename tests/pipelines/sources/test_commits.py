import io
import json

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import commits

ROW = {"commit": "c" * 40, "old_file": "pkg/a.py", "new_file": "pkg/a.py",
       "old_contents": "def f():\n    return 1\n", "new_contents": "def f():\n    return 2\n",
       "subject": "Return 2", "message": "Return 2\n\nBecause.\n", "lang": "Python", "license": "mit",
       "repos": "org/a,fork/a"}


def _parse(rows):
    data = b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)
    return list(commits.parse(io.BytesIO(data), "commits/c.jsonl"))


def test_message_then_unified_diff():
    (doc,) = _parse([ROW])
    assert isinstance(doc, Document) and doc.source == "commits"
    assert doc.text == ("Return 2\n\nBecause.\n\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1,2 +1,2 @@\n"
                        " def f():\n-    return 1\n+    return 2\n")
    assert doc.id == doc_id("commits", "commits/c.jsonl#line 1")
    assert doc.meta["original_id"] == "c" * 40 + ":pkg/a.py"
    assert doc.meta["repo"] == "org/a" and doc.meta["language"] == "Python" and doc.meta["license"] == "mit"


def test_new_file_and_missing_newline():
    (doc,) = _parse([{**ROW, "old_contents": "", "new_contents": "x = 1"}])
    assert "--- /dev/null\n+++ b/pkg/a.py\n" in doc.text
    assert doc.text.endswith("+x = 1\n\\ No newline at end of file\n")


def test_subject_used_when_message_missing():
    row = dict(ROW)
    del row["message"]
    (doc,) = _parse([row])
    assert doc.text.startswith("Return 2\n\n--- a/pkg/a.py")


def test_bad_rows():
    out = _parse([{k: v for k, v in ROW.items() if k != "new_contents"}, {**ROW, "commit": None},
                  b"{not json", b"\xc3\x28", {**ROW, "new_contents": ["list"]}, ROW])
    assert [r.reason for r in out if isinstance(r, Rejected)] == [
        "missing_field: new_contents", "missing_field: commit",
        "malformed_json: line 3: Expecting property name enclosed in double quotes",
        "invalid_utf8: line 4 byte 0", "missing_field: new_contents (wrong type list)"]
    assert sum(isinstance(r, Document) for r in out) == 1
