"""Which files a family reads under ROOT, and how a local input file is opened safely.

Rules (SECURITY.md, "Input tree"):
- User paths are literal. ROOT and every folder name are used as given, never glob-expanded
  (`--input 'cur[1]'` reads `cur[1]`, not `cur1`); a family's PATTERNS ("*.parquet",
  "*/Posts.xml") are matched against the last components of each file's path below the family
  folder, with fnmatch rules per component.
- Discovery is recursive: The Stack's `stack/data/python/train-*.parquet`, SlimPajama's
  `slimpajama/train/chunk1/*.jsonl.zst` are found. Names starting with "." (files or folders:
  .git, .cache/huggingface, temporaries) are skipped.
- Local symlinks: one that resolves outside ROOT (a file or a folder, directly or through a chain
  of links) is listed anyway, and open_input refuses it before reading a byte, so the reader turns
  it into a Rejected "symlink_outside_input". A link that stays inside ROOT is followed; a folder
  reached twice (an alias or a loop) is walked once. The check is repeated on the opened file
  descriptor, so swapping a link after listing does not get around it.
- Only regular files are read: a FIFO or device node becomes "not_a_regular_file".
gs:// has no symlinks; objects are listed through Beam's FileSystems with the prefix escaped.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import stat
from typing import BinaryIO, Iterator, Sequence

OUTSIDE_INPUT = "symlink_outside_input"
NOT_REGULAR = "not_a_regular_file"


class InputRefused(Exception):
    """The path must not be read; `reason` is the reject reason key."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Listing:
    """What one family folder holds: the files to read and how many others were passed over."""
    folder: str
    patterns: tuple[str, ...]
    files: tuple[str, ...]      # matching files (and links out of ROOT, to be rejected), sorted
    unmatched: int              # non-hidden files below the folder that match no pattern

    def problem(self) -> str | None:
        """Why the job cannot use this folder (it holds files but none the family reads), or None."""
        if self.files or not self.unmatched:
            return None
        noun = "file" if self.unmatched == 1 else "files"
        return (f"{self.folder} holds {self.unmatched} {noun} but none matches the patterns "
                f"{', '.join(self.patterns)} (searched recursively; names starting with '.' are skipped); "
                f"rename the files, move them to the right family folder or leave the folder out")


def matches(relative: str, patterns: Sequence[str]) -> bool:
    """Whether a '/'-separated path below the family folder matches one of `patterns`.

    A pattern of k components must match the last k components of the path, each with fnmatch
    (so "*" never crosses a "/"): "*.parquet" matches "data/python/train-0.parquet" and
    "*/Posts.xml" matches "dumps/cooking.stackexchange.com/Posts.xml".
    """
    parts = relative.split("/")
    for pattern in patterns:
        wanted = pattern.split("/")
        if len(parts) >= len(wanted) and all(
                fnmatch.fnmatchcase(p, w) for p, w in zip(parts[len(parts) - len(wanted):], wanted)):
            return True
    return False


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _walk_local(folder: str, real_root: str) -> Iterator[tuple[str, bool]]:
    """(path, leaves ROOT) for every non-directory entry below `folder`, following links that stay inside."""
    real_folder = os.path.realpath(folder)
    if not _inside(real_folder, real_root):
        yield folder, True
        return
    seen = {real_folder}
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue   # unreadable folder: nothing listed (its files were never inputs we could read)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = entry.path
            if entry.is_symlink():
                real = os.path.realpath(path)
                if not _inside(real, real_root):
                    yield path, True
                    continue
                if os.path.isdir(real):
                    if real not in seen:
                        seen.add(real)
                        pending.append(path)
                    continue
                yield path, False
            elif entry.is_dir(follow_symlinks=False):
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    pending.append(path)
            else:
                yield path, False


def list_family(root: str, family: str, patterns: Sequence[str]) -> Listing:
    """The files of `family` under ROOT (local path or gs://) that match the reader's `patterns`, per the
    rules in the module docstring. (The caller passes the patterns: this module is imported by the family
    registry, pipelines.sources, so it must not import it back.)"""
    from pipelines import beam_files
    from tokens import paths
    patterns = tuple(patterns)
    folder = paths.join(root, family)
    files, unmatched = [], 0
    if "://" in root:
        prefix = folder.rstrip("/") + "/"
        for path in beam_files.list_files(folder):
            relative = path[len(prefix):]
            if _hidden(relative):
                continue
            if matches(relative, patterns):
                files.append(path)
            else:
                unmatched += 1
    elif os.path.lexists(folder):
        real_root = os.path.realpath(root)
        for path, outside in _walk_local(folder, real_root):
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            # A link out of ROOT is always listed (and refused): a linked folder's files are unknown.
            if outside and (os.path.isdir(path) or matches(relative, patterns) or relative == "."):
                files.append(path)
            elif matches(relative, patterns):
                files.append(path)
            else:
                unmatched += 1
    return Listing(folder, patterns, tuple(sorted(set(files))), unmatched)


def open_input(path: str, root: str | None) -> BinaryIO:
    """A binary stream of an input file; raises InputRefused for links out of ROOT and non-regular files.

    Local paths are checked before opening (realpath inside ROOT), opened without blocking (a FIFO
    cannot hang the worker), and checked again on the descriptor itself. gs:// goes through tokens.paths."""
    if "://" in path:
        from tokens import paths   # gcsfs: only for object stores
        return paths.open_read(path)
    if root is not None and not _inside(os.path.realpath(path), os.path.realpath(root)):
        raise InputRefused(OUTSIDE_INPUT)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputRefused("broken_symlink") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputRefused(NOT_REGULAR)
        if root is not None:
            opened = _opened_path(fd)
            if opened is not None and not _inside(opened, os.path.realpath(root)):
                raise InputRefused(OUTSIDE_INPUT)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _opened_path(fd: int) -> str | None:
    """The path the kernel resolved for an open descriptor (Linux /proc), or None where unavailable."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
