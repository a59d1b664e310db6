"""The wire between the test process and the solution process: plain values only, and handles.

Standard library only (shipped into both sandbox processes). A message is an 8-byte length and `marshal`
data. Only plain values cross: exact None, bool, int, float, complex, str, bytes, and exact list, tuple,
dict, set, frozenset of them, bounded in items, depth and bytes. Anything else the solution hands back is
either a handle (an id in the solution process's object table: instances of its classes, generators,
iterators, callables) or, where a value was due, the failure `unplain_return: <type>`. The test process
never runs a method of a solution object: `==`, `abs`, `isinstance`, `math.isclose` all run on its own
plain copies, so an object whose `__eq__` always answers True cannot reach them.
"""
import marshal
import os

MAX_ITEMS = 1 << 20         # values in one message
MAX_DEPTH = 64              # nesting of containers
MAX_MESSAGE = 16 << 20      # bytes of one message
_SCALARS = frozenset((type(None), bool, int, float, complex, str, bytes))
_SEQUENCES = frozenset((list, tuple, set, frozenset))


def unplain(value):
    """None when `value` is plain; else the name of the first type that is not (or the bound it breaks)."""
    stack, seen = [(value, 0)], 0
    scalars, sequences = _SCALARS, _SEQUENCES
    while stack:
        v, depth = stack.pop()
        t = type(v)
        seen += 1
        if seen > MAX_ITEMS:
            return "more than %d values" % MAX_ITEMS
        if t in scalars:
            continue
        if depth >= MAX_DEPTH:
            return "nesting deeper than %d" % MAX_DEPTH
        if t in sequences:
            stack.extend((x, depth + 1) for x in v)
        elif t is dict:
            for k, x in v.items():
                stack.append((k, depth + 1))
                stack.append((x, depth + 1))
        else:
            name = t.__name__
            return name if type(name) is str else "?"
    return None


def send(fd, message):
    """Write one message (plain data only: the caller checked) on `fd`."""
    data = marshal.dumps(message)
    if len(data) > MAX_MESSAGE:
        raise ValueError("message of %d bytes over the %d-byte limit" % (len(data), MAX_MESSAGE))
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _exactly(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("the other process closed the channel")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(fd):
    """Read one message; EOFError when the other side is gone, ValueError when it is malformed."""
    size = int.from_bytes(_exactly(fd, 8), "little")
    if size > MAX_MESSAGE:
        raise ValueError("message of %d bytes over the %d-byte limit" % (size, MAX_MESSAGE))
    try:
        message = marshal.loads(_exactly(fd, size))
    except (EOFError, TypeError) as exc:
        raise ValueError("malformed message: %s" % exc)
    if unplain(message) is not None:
        raise ValueError("message with a non-plain value: %s" % unplain(message))
    return message
