"""The few libc calls the sandbox launcher needs (prctl, unshare, mount, capset, syscall), on `_ctypes` alone.

Standard library only, shipped as source into the sandbox with launcher.py and landlock.py. Importing the
`ctypes` package costs ~7 ms of CPU per verification run (about a fifth of a run); its C core `_ctypes` ~2 ms.
"""
import _ctypes


class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_uint32(_ctypes._SimpleCData):
    _type_ = "I"


class c_int32(_ctypes._SimpleCData):
    _type_ = "i"


class c_uint64(_ctypes._SimpleCData):
    _type_ = "Q"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_ushort(_ctypes._SimpleCData):
    _type_ = "H"


class c_void_p(_ctypes._SimpleCData):
    _type_ = "P"


class c_char(_ctypes._SimpleCData):
    _type_ = "c"


Structure, byref, addressof, get_errno = _ctypes.Structure, _ctypes.byref, _ctypes.addressof, _ctypes.get_errno


class _Libc:
    _handle = _ctypes.dlopen(None, 0)   # the running program: libc's symbols


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


def function(name: str, restype=c_int):
    """libc's `name`; errno is saved for get_errno()."""
    fn = _Function((name, _Libc))
    fn.restype = restype
    return fn


def buffer(data: bytes):
    """A C copy of `data` that lives as long as the returned object."""
    return (c_char * len(data)).from_buffer_copy(data)
