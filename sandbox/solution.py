"""The solution process: runs the untrusted solution as module `solution`, then answers the test process.

Standard library only. The test process (harness.py) starts it with fork + exec of a fresh interpreter
(`SERVER_BOOT`), so it holds no byte of the test process's memory (no nonce) and no fd but its end of
the channel (requests on fd 3, replies on fd 4), stdout/stderr and /dev/null. It runs under the same kernel layers (inherited: Landlock,
seccomp, rlimits, cgroup, namespaces). Whatever it does, it can only answer requests with plain values
(bridge.py), exit, crash or stay silent: each of those fails a test, none of them writes the report.
"""
import marshal
import os
import sys

# Bound before the solution runs: a solution that patches builtins must not confuse its own server (that
# could only fail it, never pass it: every reply is checked in the test process).
_isinstance, _issubclass, _callable, _hasattr, _type, _str = isinstance, issubclass, callable, hasattr, type, str
_Module = type(sys)
REQUEST_FD, REPLY_FD = 3, 4
NAME_VALUE_BYTES = 1 << 20   # module-level plain values larger than this cross as handles
# Run by `python -I -S -B -c SERVER_BOOT`: read the modules and the solution from the channel, serve.
SERVER_BOOT = r'''
import marshal, os, sys
def _boot():
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = os.read(3, n - len(data))
            if not chunk:
                os._exit(0)
            data += chunk
        return data
    payload = marshal.loads(exactly(int.from_bytes(exactly(8), "little")))
    mods = {}
    for name in ("bridge", "solution", "harness"):
        mod = type(sys)("_sandbox_" + name)
        code = payload["modules"][name]
        exec(compile(code, "<sandbox %s>" % name, "exec") if isinstance(code, str) else marshal.loads(code),
             mod.__dict__)
        sys.modules[mod.__name__] = mods[name] = mod
    return mods["solution"].main(payload, mods["bridge"], mods["harness"])
os._exit(_boot())
'''


def _describe(exc):
    try:
        text = str(exc)
        text = text if type(text) is str else ""
    except BaseException:
        text = ""
    return " ".join(text.split())[:300]


def _builtin_base(t):
    for klass in t.__mro__:
        if klass.__module__ == "builtins":
            return klass.__name__
    return "Exception"


class Server:
    def __init__(self, module, bridge):
        self.bridge, self.objects, self.next_id = bridge, {0: module}, 1

    def _handle(self, obj):
        hid = self.next_id
        self.next_id += 1
        self.objects[hid] = obj
        name = _type(obj).__name__
        return ("h", hid, name if _type(name) is _str else "?", _callable(obj), _isinstance(obj, _type))

    def encode(self, value, policy):
        """A reply for `value`: plain, a handle (policy permitting), or unplain."""
        why = self.bridge.unplain(value)
        if why is None:
            return ("v", value)
        iterator = _hasattr(_type(value), "__next__")
        if policy == "any" or (policy == "call" and (iterator or _callable(value))) or \
                (policy == "instance") or (policy == "iter" and iterator):
            return self._handle(value)
        return ("u", why)

    def decode(self, item):
        tag, value = item
        return self.objects[value] if tag == "h" else value

    def names(self):
        """The solution module's public names: plain values, module names, exception classes, handles."""
        out = []
        for name, value in list(self.objects[0].__dict__.items()):
            if _type(name) is not _str or name.startswith("__"):
                continue
            if _type(value) is _Module:
                module_name = value.__dict__.get("__name__", name)
                out.append((name, ("m", module_name if _type(module_name) is _str else name)))
            elif _isinstance(value, _type) and _issubclass(value, BaseException):
                hid, own = self._handle(value)[1], value.__name__
                out.append((name, ("e", hid, own if _type(own) is _str else name, True, True, _builtin_base(value))))
            elif self.bridge.unplain(value) is None and len(marshal.dumps(value)) > NAME_VALUE_BYTES:
                out.append((name, self._handle(value)))   # a big table stays here: indexed remotely
            else:
                out.append((name, self.encode(value, "any")))
        return out

    def serve(self):
        bridge, streams = self.bridge, (sys.stdout, sys.stderr)
        while True:
            try:
                op, hid, a, b = bridge.receive(REQUEST_FD)
            except (EOFError, ValueError):
                return 0
            try:
                reply = self.answer(op, self.objects[hid], a, b)
            except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
                reply = ("x", "%s(%s)" % (type(exc).__name__, _describe(getattr(exc, "code", exc))))
            except BaseException as exc:
                reply = ("r", type(exc).__name__, _builtin_base(type(exc)), _describe(exc))
            for stream in streams:
                try:
                    stream.flush()
                except BaseException:
                    pass
            bridge.send(REPLY_FD, reply)
            if reply[0] == "x":
                return 0

    def answer(self, op, obj, a, b):
        if op == "call":
            args = [self.decode(x) for x in a]
            kwargs = {name: self.decode((tag, v)) for name, tag, v in b}
            result = obj(*args, **kwargs)
            reply = self.encode(result, "instance" if _isinstance(obj, _type) else "call")
            back = [(i, x) for i, (item, x) in enumerate(zip(a, args)) if item[0] == "v" and _type(x) in
                    (list, dict, set)]
            back += [(name, kwargs[name]) for name, tag, _ in b if tag == "v" and _type(kwargs[name]) in
                     (list, dict, set)]
            for key, value in back:
                if self.bridge.unplain(value) is not None:
                    return ("u", "%s in argument %r changed in place" % (self.bridge.unplain(value), key))
            return reply + (back,)
        if op == "getattr":
            return self.encode(getattr(obj, a), "any")
        if op == "setattr":
            setattr(obj, a, self.decode(b))
            return ("v", None)
        if op == "iter":
            return self.encode(iter(obj), "iter")
        if op == "next":
            return self.encode(next(obj), "value")
        if op == "len":
            return ("v", int(len(obj)))
        if op == "bool":
            return ("v", bool(obj))
        if op == "getitem":
            return self.encode(obj[self.decode(a)], "value")
        if op == "setitem":
            obj[self.decode(a)] = self.decode(b)
            return ("v", None)
        if op == "contains":
            return ("v", bool(self.decode(a) in obj))
        raise ValueError("unknown request %r" % (op,))


def main(payload, bridge, harness):
    """Run the solution, then serve until the test process closes the channel."""
    module = type(sys)("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    sys.argv = ["solution.py"] + list(payload.get("argv", ()))
    sys.path.extend(payload.get("paths") or ())
    if payload.get("audit"):
        if payload.get("paths"):   # granted packages (numpy, ...) import ctypes themselves
            try:
                import ctypes  # noqa: F401
            except ImportError:
                pass
        harness.install_audit_hook(os.path.realpath(os.getcwd()), solution=True)
    server = Server(module, bridge)
    codes = [compile(payload["solution"], "solution.py", "exec", dont_inherit=True),
             compile(payload.get("setup") or "", "setup.py", "exec", dont_inherit=True)]
    del payload
    try:
        for code in codes:   # MBPP's setup code runs after the solution in its namespace (as in MBPP's harness)
            exec(code, module.__dict__)
        reply = ("ready", server.names())
    except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
        reply = ("x", "%s(%s)" % (type(exc).__name__, _describe(getattr(exc, "code", exc))))
    except BaseException as exc:
        harness.print_traceback(exc, {})
        reply = ("r", type(exc).__name__, _builtin_base(type(exc)), _describe(exc))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    bridge.send(REPLY_FD, reply)
    if reply[0] != "ready":
        return 0
    return server.serve()
