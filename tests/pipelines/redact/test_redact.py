"""The `(doc, cfg) -> (doc, findings)` transform: placeholders, meta, per-source defaults, flags."""
import argparse
import inspect

import pytest

from pipelines import redact
from pipelines.document import Document
from pipelines.redact import PiiConfig, default_sources, reason, redact_text

LEAKY = ('import boto3\nKEY = "AKIA' + 'Q3X7ZP2LMN4RT6WB"\n# maintainer: jane.roe@gmail.com\n'
         'HOST = "52.14.33.101"\npassword = "s3cr3tP@ss"\n')


def test_findings_replaced_and_counted_in_meta_never_the_value():
    doc = Document("1", "code", LEAKY, {"path": "a.py"})
    out, findings = redact.redact(doc)
    assert out.text == ('import boto3\nKEY = "<KEY>"\n# maintainer: <EMAIL>\nHOST = "10.0.0.1"\n'
                        'password = "<PASSWORD>"\n')
    assert findings == {"email": 1, "ip": 1, "key": 1, "password": 1}
    assert out.meta == {"path": "a.py", "pii": findings} and doc.meta == {"path": "a.py"}
    assert "jane" not in out.to_row()["meta"] and "AKIA" not in out.to_row()["meta"]


def test_document_without_findings_is_the_same_object():
    text = inspect.getsource(redact)   # real code full of "key", "password", "@", dotted numbers
    doc = Document("2", "code", text, {"path": "redact.py"})
    out, findings = redact.redact(doc)
    assert findings == {} and out is doc


def test_redaction_is_idempotent():
    once, _ = redact_text(LEAKY)
    twice, findings = redact_text(once)
    assert twice == once and findings == {}


def test_per_source_defaults_and_modes():
    assert sorted(default_sources()) == ["code", "commits", "markup", "notebooks", "stackexchange"]
    doc = Document("3", "text", LEAKY)
    assert redact.redact(doc) == (doc, {})                                  # text: off by default
    assert redact.redact(doc, PiiConfig(sources=("text",)))[1]["key"] == 1  # on when named
    assert redact.redact(Document("4", "code", LEAKY), PiiConfig(mode="off"))[1] == {}
    assert reason({"key": 2, "email": 1}) == "pii: email=1,key=2"


def _parse(argv):
    ap = argparse.ArgumentParser()
    redact.add_arguments(ap)
    return redact.config_from_args(ap.parse_args(argv))


def test_flags():
    assert _parse([]) == PiiConfig()
    assert _parse(["--pii", "reject", "--pii-sources", "code,text"]) == PiiConfig("reject", ("code", "text"))
    assert _parse(["--pii-sources", ""]).applies_to("code") is False
    with pytest.raises(SystemExit):
        _parse(["--pii", "maybe"])
    with pytest.raises(SystemExit, match="unknown source tags"):
        _parse(["--pii-sources", "code,stack"])


def test_a_family_registered_with_redact_is_on_by_default():
    from pipelines import filters
    from pipelines.sources import Family, register, stack, unregister
    from tokens import sources as tags
    tags.register("configs", "code-adjacent")
    reader = type("Reader", (), {"SOURCE": "configs", "PATTERNS": ("*.cfg",), "parse": staticmethod(stack.parse)})
    register(Family("configs", reader, {"configs": filters.no_filters}, redact=True))
    try:
        assert "configs" in default_sources() and PiiConfig().applies_to("configs")
    finally:
        unregister("configs")
        tags.unregister("configs")
    assert "configs" not in default_sources()
