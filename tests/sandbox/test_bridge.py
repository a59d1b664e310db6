"""Only plain values cross between the two processes: exact builtin types, bounded."""
import os

import pytest

from sandbox import bridge


class I(int):
    pass


class L(list):
    pass


@pytest.mark.parametrize("value", [None, True, 3, 2.5, 1j, "s", b"b", [1, (2, {3: frozenset({4})})], {"a": {1, 2}},
                                   10 ** 100])
def test_plain_values(value):
    assert bridge.unplain(value) is None


@pytest.mark.parametrize("value, name", [(I(3), "I"), ([1, L()], "L"), ({"k": object()}, "object"),
                                         ((x for x in ()), "generator"), (bytearray(b"x"), "bytearray"),
                                         ({I(1): 2}, "I")])
def test_anything_else_is_named(value, name):
    assert bridge.unplain(value) == name


def test_bounds():
    deep = []
    for _ in range(bridge.MAX_DEPTH + 2):
        deep = [deep]
    assert bridge.unplain(deep).startswith("nesting deeper")
    looped = []
    looped.append(looped)
    assert bridge.unplain(looped).startswith("nesting deeper")
    assert bridge.unplain([0] * (bridge.MAX_ITEMS + 1)).startswith("more than")


def test_messages_round_trip_and_refuse_bad_frames():
    r, w = os.pipe()
    try:
        bridge.send(w, ("v", [1, "two", {3: 4.0}]))
        assert bridge.receive(r) == ("v", [1, "two", {3: 4.0}])
        os.write(w, (1 << 40).to_bytes(8, "little"))
        with pytest.raises(ValueError):
            bridge.receive(r)
    finally:
        os.close(r)
        os.close(w)
    r, w = os.pipe()
    os.write(w, (5).to_bytes(8, "little") + b"\xff\xff\xff\xff\xff")
    os.close(w)
    with pytest.raises(ValueError):
        bridge.receive(r)
    os.close(r)
