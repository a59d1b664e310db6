import io
import json

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import synthetic


def test_prompt_solution_and_tests_in_meta():
    row = {"id": "t1", "prompt": "Write inc(x).", "solution": "def inc(x):\n    return x + 1\n",
           "tests": "assert inc(1) == 2\n"}
    bad = {"id": "t2", "prompt": "p", "solution": "s"}
    data = (json.dumps(row) + "\n" + json.dumps(bad) + "\n{oops\n").encode()
    out = list(synthetic.parse(io.BytesIO(data), "synthetic/s.jsonl"))
    assert isinstance(out[0], Document)
    assert out[0].text == "Write inc(x).\ndef inc(x):\n    return x + 1\n"
    assert out[0].meta["tests"] == "assert inc(1) == 2\n" and out[0].id == doc_id("synthetic", "synthetic/s.jsonl#line 1")
    assert out[0].meta["original_id"] == out[0].meta["task_id"] == "t1"
    assert [r.reason for r in out[1:]] == ["missing_field: tests",
                                          "malformed_json: line 3: Expecting property name enclosed in double quotes"]
    assert all(isinstance(r, Rejected) for r in out[1:])
