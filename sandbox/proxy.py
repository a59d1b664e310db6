"""The test process's side of the two-process verdict: start the solution process, reach it through proxies.

Standard library only (shipped into the sandbox). `start` forks and execs a fresh interpreter for the
solution (solution.py) holding only its two channel pipes; `Link` sends requests and turns replies into
plain values, `Remote` handles (instances, generators, iterators, callables of the solution, whose methods
run over there) or failures. A failure the solution causes (a non-plain value, an exit, its death, a
malformed reply) is sticky: the verdict fails even when a test catches the exception.
"""
import builtins
import fcntl
import os
import sys

_REQUEST_FD, _REPLY_FD = 3, 4


class SolutionFailure(BaseException):
    """The solution broke the protocol (`unplain_return`, `exit_called`, `solution_died`): never a pass.
    A BaseException so that a test's `except Exception` does not swallow it."""

    def __init__(self, reason):
        BaseException.__init__(self, reason)
        self.reason = reason


class Remote:
    """A handle on an object that lives in the solution process. Equality and hashing are identity: a
    comparison never runs the solution's code; calls, attributes, iteration and item access do, remotely."""
    __slots__ = ("_link", "_id", "_type", "_callable")

    def __init__(self, link, hid, type_name, is_callable):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", hid)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)

    def __call__(self, *args, **kwargs):
        return self._link.call(self._id, args, kwargs)

    def __getattr__(self, name):
        return self._link.request("getattr", self._id, name)

    def __setattr__(self, name, value):
        self._link.request("setattr", self._id, name, self._link.argument(value))

    def __iter__(self):
        return self._link.request("iter", self._id, counted=True)

    def __next__(self):
        return self._link.request("next", self._id, counted=True)

    def __len__(self):
        return self._link.typed(self._link.request("len", self._id, counted=True), int)

    def __bool__(self):
        return self._link.typed(self._link.request("bool", self._id), bool)   # `assert add` calls nothing

    def __getitem__(self, key):
        return self._link.request("getitem", self._id, self._link.argument(key), counted=True)

    def __setitem__(self, key, value):
        self._link.request("setitem", self._id, self._link.argument(key), self._link.argument(value), counted=True)

    def __contains__(self, item):
        return self._link.typed(self._link.request("contains", self._id, self._link.argument(item), counted=True),
                                bool)

    def __repr__(self):
        return "<solution %s>" % self._type


class Link:
    def __init__(self, bridge, pid, request_fd, reply_fd):
        self.bridge, self.pid, self.request_fd, self.reply_fd = bridge, pid, request_fd, reply_fd
        self.calls, self.failure, self.exceptions = 0, None, {}

    def fail(self, reason):
        if self.failure is None:
            self.failure = reason
        raise SolutionFailure(self.failure)

    def exchange(self, message):
        if self.failure is not None:
            raise SolutionFailure(self.failure)
        try:
            self.bridge.send(self.request_fd, message)
            return self.bridge.receive(self.reply_fd)
        except EOFError:
            self.fail("solution_died: the solution process ended during a test (%s)" % self.status())
        except (OSError, ValueError) as exc:
            self.fail("solution_died: %s" % (" ".join(str(exc).split())[:200],))

    def status(self):
        """How the solution process ended (it closed the channel: wait briefly for its status)."""
        import time
        for _ in range(200):
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return "no status"
            if pid:
                if os.WIFSIGNALED(status):
                    return "signal %d" % os.WTERMSIG(status)
                return "exit %d" % os.WEXITSTATUS(status)
            time.sleep(0.001)
        return "still running"

    def typed(self, value, kind):
        if type(value) is not kind:
            self.fail("unplain_return: %s where %s was due" % (type(value).__name__, kind.__name__))
        return value

    def argument(self, value):
        if type(value) is Remote and value._link is self:
            return ("h", value._id)
        why = self.bridge.unplain(value)
        if why is not None:
            raise TypeError("unplain_argument: a %s cannot be passed to the solution (only plain values and "
                            "the solution's own objects cross)" % why)
        return ("v", value)

    def request(self, op, hid, a=None, b=None, counted=False):
        self.calls += counted
        return self.result(self.exchange((op, hid, a, b)))

    def call(self, hid, args, kwargs):
        self.calls += 1
        encoded = [self.argument(x) for x in args]
        named = [(k,) + self.argument(v) for k, v in kwargs.items()]
        reply = self.exchange(("call", hid, encoded, named))
        if reply and reply[0] in ("v", "h") and len(reply) >= 2:
            back, reply = reply[-1], reply[:-1]
            for key, value in back if type(back) is list else ():
                target = args[key] if type(key) is int and 0 <= key < len(args) else kwargs.get(key)
                if type(target) is not type(value):
                    self.fail("unplain_return: argument %r changed type in place" % (key,))
                if type(target) is list:
                    target[:] = value
                else:
                    target.clear()
                    target.update(value)
        return self.result(reply)

    def result(self, reply):
        kind = reply[0] if type(reply) is tuple and reply else None
        if kind == "v" and len(reply) == 2:
            return reply[1]
        if kind == "h" and len(reply) == 5:
            return Remote(self, reply[1], str(reply[2]), bool(reply[3]))
        if kind == "u":
            self.fail("unplain_return: %s" % (reply[1],))
        if kind == "x":
            self.fail("exit_called: %s in the solution" % (reply[1],))
        if kind == "r" and len(reply) == 4:
            raise self.exception(*reply[1:])
        self.fail("solution_died: malformed reply")

    def exception(self, name, base, message):
        """The solution's exception as one of ours: a builtin one by name, or a local class of that name."""
        found = getattr(builtins, str(name), None)
        if isinstance(found, type) and issubclass(found, Exception) and name == base:
            return found(message)
        if name not in self.exceptions:
            parent = getattr(builtins, str(base), None)
            parent = parent if isinstance(parent, type) and issubclass(parent, Exception) else Exception
            self.exceptions[name] = type(str(name), (parent,), {"__module__": "solution"})
        return self.exceptions[name](message)

    def namespace(self, names):
        """The test's view of the solution module: plain values, modules (imported here), proxies."""
        out = {}
        for name, item in names:
            kind = item[0]
            if kind == "m":
                try:
                    __import__(item[1])
                    module = sys.modules[item[1]]
                except BaseException:
                    continue
                out[name] = module
            elif kind == "e":
                self.exception(item[2], item[5], "")
                out[name] = self.exceptions[item[2]]
            else:
                try:
                    out[name] = self.result(item)
                except SolutionFailure:
                    self.failure = None   # a non-plain constant nobody uses is no failure yet
        return out


def start(bridge, payload, server_boot, argv):
    """Fork + exec the solution process; send it `payload`; return (Link, its first reply)."""
    requests, replies = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, _REPLY_FD + 1) for fd in (requests[0], replies[1])]
            os.dup2(high[0], _REQUEST_FD)
            os.dup2(high[1], _REPLY_FD)
            os.closerange(_REPLY_FD + 1, 1 << 16)
            os.execv(sys.executable, [sys.executable, "-I", "-S", "-B", "-c", server_boot] + list(argv))
        except BaseException as exc:
            try:
                os.write(2, ("solution process: cannot start: %r\n" % (exc,)).encode())
            except BaseException:
                pass
        finally:
            os._exit(127)
    os.close(requests[0])
    os.close(replies[1])
    link = Link(bridge, pid, requests[1], replies[0])
    bridge.send(link.request_fd, payload)
    try:
        first = bridge.receive(link.reply_fd)
    except EOFError:
        first = ("d", link.status())
    except (OSError, ValueError) as exc:
        first = ("d", " ".join(str(exc).split())[:200])
    return link, first
