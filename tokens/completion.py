"""Completion records: a stage's output counts as finished only when its record, written last, says so.

A job killed half way leaves some shards and no record; the next stage reads the record first and
refuses a folder without one, or one where a listed file is missing or has another size, naming what is
missing. The record also says which files a run wrote, so the next run of the same job deletes only
those (a user's own `report.md` next to them is never touched).

`OUTPUT/_COMPLETE.json`: {"job", "format_version", "files": {relative path: {"bytes", "rows"?}}, ...}.
Paths are relative to OUTPUT with '/' separators, so a copied folder stays complete.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from tokens import paths

RECORD_NAME = "_COMPLETE.json"
FORMAT_VERSION = 1
_PART = re.compile(r"^(?:.*/)?part-(\d{5})-of-(\d{5})\.[A-Za-z0-9._]+$")


class IncompleteInput(SystemExit):
    """The folder is not a finished run's output; the message names what is missing and what to do.

    A SystemExit: the command lines print the message as their one-line error and exit 1."""


def record_path(folder: str) -> str:
    return paths.join(folder, RECORD_NAME)


def describe(folder: str, files: Mapping[str, int | None]) -> dict[str, dict[str, int]]:
    """{relative path: {"bytes", "rows"?}} for `files` (relative path -> row count or None), sizes read now."""
    out = {}
    for rel, rows in sorted(files.items()):
        entry = {"bytes": paths.size(paths.join(folder, *rel.split("/")))}
        if rows is not None:
            entry["rows"] = int(rows)
        out[rel] = entry
    return out


def write_record(folder: str, job: str, files: Mapping[str, int | None], extra: Mapping[str, Any] | None = None
                 ) -> dict:
    """Publish OUTPUT/_COMPLETE.json (atomically; call it after every listed file is in place)."""
    body = {"job": job, "format_version": FORMAT_VERSION, **dict(extra or {}), "files": describe(folder, files)}
    paths.write_atomic(record_path(folder), (json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8"))
    return body


def read_record(folder: str) -> dict | None:
    """The record, or None when there is none; a record that is not valid JSON is IncompleteInput."""
    path = record_path(folder)
    if not paths.exists(path):
        return None
    try:
        body = json.loads(paths.read_bytes(path).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise IncompleteInput(f"{path} is damaged ({e}); rerun the job that writes {folder}") from None
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        raise IncompleteInput(f"{path} has no file list; rerun the job that writes {folder}")
    bad = [rel for rel in body["files"] if not _plain_relative(rel)]
    if bad:   # the record names files by their place inside the folder, never outside it
        raise IncompleteInput(f"{path} lists {bad[0]!r}, not a plain relative path inside {folder}")
    return body


def _plain_relative(rel: object) -> bool:
    return (isinstance(rel, str) and bool(rel) and not rel.startswith("/") and "\\" not in rel and "://" not in rel
            and all(part not in ("", ".", "..") for part in rel.split("/")))


def retract(folder: str) -> dict | None:
    """Delete the record before a run changes anything it lists; returns the record that was there."""
    previous = read_record_or_none(folder)
    paths.delete(record_path(folder))
    return previous


def read_record_or_none(folder: str) -> dict | None:
    try:
        return read_record(folder)
    except IncompleteInput:
        return None


def missing_parts(names: Iterable[str]) -> list[str]:
    """Names `part-i-of-N` absent from a listing that holds other parts of the same N in the same folder."""
    groups: dict[tuple[str, int, str], set[int]] = {}
    for name in names:
        m = _PART.match(name)
        if m:
            folder = name.rsplit("/", 1)[0] if "/" in name else ""
            suffix = name[m.end(2):]
            groups.setdefault((folder, int(m.group(2)), suffix), set()).add(int(m.group(1)))
    missing = []
    for (folder, total, suffix), have in sorted(groups.items()):
        for i in range(total):
            if i not in have:
                missing.append(f"{folder + '/' if folder else ''}part-{i:05d}-of-{total:05d}{suffix}")
    return missing


def require_complete(folder: str, job: str, under: Iterable[str] = ("",)) -> dict:
    """The record of a finished `job` run in `folder`, checked against the files: raises IncompleteInput.

    Every listed file below one of the `under` prefixes must exist with its recorded size, and the
    listed shards must be a whole set (part-0..N-1 of N)."""
    record = read_record(folder)
    how = f"rerun {job} into {folder} and wait for it to finish"
    if record is None:
        raise IncompleteInput(f"{folder} has no {RECORD_NAME}: the {job} run that writes it did not finish "
                              f"(killed, failed or still running), so its output may be partial; {how}")
    if record.get("job") != job:
        raise IncompleteInput(f"{record_path(folder)} was written by {record.get('job')!r}, not {job}")
    prefixes = tuple(under)
    files = {rel: e for rel, e in record["files"].items() if any(rel.startswith(p) for p in prefixes)}
    problems = [f"{rel} (listed, never written)" for rel in missing_parts(files)]
    for rel, entry in sorted(files.items()):
        path = paths.join(folder, *rel.split("/"))
        try:
            have = paths.size(path)
        except (FileNotFoundError, OSError):
            problems.append(f"{rel} (missing)")
            continue
        if isinstance(entry, dict) and entry.get("bytes") is not None and have != entry["bytes"]:
            problems.append(f"{rel} ({have} bytes, the record says {entry['bytes']})")
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise IncompleteInput(f"{folder} is incomplete: {', '.join(problems[:5])}{more}; {how}")
    return record


def manifest_gaps(manifest) -> list[str]:
    """What a token manifest (tokens.manifest.Manifest, loaded with its location) lists that is not on disk:
    shards or sidecars missing or of another size, and part-i-of-N numbers absent from its shard list.

    tokenize writes a source's manifest last, after its shards, so a manifest that does not cover its
    shards was copied or edited, or its shards were deleted since: the mixer refuses it."""
    problems = [f"{name} (not in the manifest's shard list)"
                for name in missing_parts([s.path for s in manifest.shards])]
    folder = manifest.location
    for shard in manifest.shards:
        for rel, size in ((shard.path, shard.bytes), (shard.lengths, None)):
            if rel is None:
                continue
            path = paths.join(folder, rel)
            try:
                have = paths.size(path)
            except (FileNotFoundError, OSError):
                problems.append(f"{rel} (missing)")
                continue
            if size is not None and have != size:
                problems.append(f"{rel} ({have} bytes, the manifest says {size})")
    return problems
