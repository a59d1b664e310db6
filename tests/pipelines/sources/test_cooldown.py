import io
import json

from pipelines.document import Document, Rejected, doc_id
from pipelines.sources import cooldown


def _parse(fn, rows, path):
    data = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    return list(fn(io.BytesIO(data), path))


def test_math_shapes():
    out = _parse(cooldown.parse_math, [{"id": 7, "text": "1+1=2"}, {"problem": "2*3?", "solution": "6"},
                                       {"question": "?"}, {"problem": "x"}], "math/m.jsonl")
    assert [r.text for r in out[:2]] == ["1+1=2", "2*3?\n\n6"]
    assert out[0].id == doc_id("math", "math/m.jsonl#line 1") and out[1].id == doc_id("math", "math/m.jsonl#line 2")
    assert out[0].meta["original_id"] == "7" and "original_id" not in out[1].meta   # the user's id, kept
    assert [r.reason for r in out[2:]] == ["missing_field: text", "missing_field: solution"]


def test_instruct_shapes():
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello."}]},
            {"prompt": "2+2?", "response": "4"},
            {"instruction": "Summarize.", "context": "Long text.", "response": "Short.", "category": "summarization"},
            {"messages": [{"role": "user"}]}, {"messages": "nope"}, {"text": "no shape"}]
    out = _parse(cooldown.parse_instruct, rows, "instruct/i.jsonl")
    assert [type(r) for r in out] == [Document] * 3 + [Rejected] * 3
    assert out[0].text == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello."
    assert out[1].text == "User: 2+2?\n\nAssistant: 4"
    assert out[2].text == "User: Summarize.\n\nLong text.\n\nAssistant: Short."
    assert out[2].meta["category"] == "summarization" and all(d.source == "instruct" for d in out)
    assert [r.reason for r in out[3:]] == ["missing_field: content", "missing_field: messages (wrong type str)",
                                          "missing_field: messages"]
