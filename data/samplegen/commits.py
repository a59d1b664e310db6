"""commits/: CommitPack rows from the changes between consecutive releases of a package.

Each file that differs between release N and N+1 of click / packaging (PyPI sdists)
becomes one row. Subject and message are written from the changelog entries of release
N+1 that best match the identifiers touched by the change (see SOURCES.md).
"""
from __future__ import annotations

import difflib
import hashlib
import random
import re

from samplegen import inputs as inp
from samplegen.defects import Defects
from samplegen.writers import jsonl_bytes, zstd_bytes

PACKAGES = {"click": ("CHANGES.rst", "bsd-3-clause"), "itsdangerous": ("CHANGES.rst", "bsd-3-clause"),
            "packaging": ("CHANGELOG.rst", "apache-2.0")}
LANG = {".py": "Python", ".rst": "reStructuredText", ".md": "Markdown", ".toml": "TOML", ".cfg": "INI",
        ".txt": "Text", ".ini": "INI", ".in": "Text", ".yml": "YAML", ".yaml": "YAML"}
MAX_BYTES = 40_000
FILES = ("commits/commitpack-python-00000.jsonl", "commits/commitpack-python-00001.jsonl.zst")


def _tree(ins: inp.Inputs, name: str, version: str) -> dict[str, str]:
    root = ins.root(name, version) / f"{name}-{version}"
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if (p.is_file() and p.suffix in LANG and rel != "PKG-INFO" and ".egg-info" not in rel
                and p.stat().st_size <= MAX_BYTES):
            text = inp.read_text(p)
            if text is not None:
                out[rel] = text
    return out


def _changelog(text: str, version: str) -> list[str]:
    """Bullets of one release section, markup stripped."""
    m = re.search(rf"^(?:Version )?{re.escape(version)}\b[^\n]*\n[-~=]+\n(.*?)(?=\n(?:Version )?\d+\.\d+[^\n]*\n[-~=]+\n|\Z)",
                  text, re.S | re.M)
    if not m:
        return []
    bullets = re.split(r"\n\s*[-*]\s+", "\n" + m.group(1))
    out = []
    for b in bullets[1:]:
        b = re.sub(r"\s+", " ", b).strip()
        b = re.sub(r":(?:issue|pr|ref|func|class|meth|attr)?:`([^`]*)`", r"#\1", b)
        b = b.replace("``", "").replace("(#", "(#")
        if b:
            out.append(b)
    return out


def _identifiers(old: str, new: str) -> set[str]:
    changed = [ln[1:] for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
               if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return {w.lower() for w in re.findall(r"[A-Za-z_]{4,}", " ".join(changed))}


def _message(path: str, old: str, new: str, bullets: list[str], pkg: str, old_v: str, new_v: str,
             rng: random.Random) -> tuple[str, str]:
    ids = _identifiers(old, new) | {re.sub(r"\W", "", path.rsplit("/", 1)[-1].split(".")[0]).lower()}
    scored = sorted(((len(ids & {w.lower() for w in re.findall(r"[A-Za-z_]{4,}", b)}), i, b)
                     for i, b in enumerate(bullets)), key=lambda t: (-t[0], t[1]))
    related = [b for s, _, b in scored if s > 0][:3]
    stem = path.rsplit("/", 1)[-1]
    if related:
        first = re.sub(r"\s*\(?#[^)]*\)?\.?$", "", related[0]).rstrip(".")
        subject = first if len(first) <= 72 else first[:69].rsplit(" ", 1)[0] + "..."
    elif path.startswith("tests/"):
        subject = rng.choice(["Update tests in {}", "Adjust {} for new behaviour", "Fix flaky assertions in {}"]).format(stem)
    elif path.startswith("docs/"):
        subject = rng.choice(["Docs: update {}", "Clarify wording in {}", "Refresh {} for the release"]).format(stem)
    else:
        subject = rng.choice(["Clean up {}", "Refactor {}", "Small fixes in {}", "Update {}"]).format(stem)
    body = [subject]
    if related:
        body.append("\n".join(f"* {b}" for b in related))
    body.append(f"Part of the changes between {pkg} {old_v} and {new_v}.")
    return subject, "\n\n".join(body)


def _rows(ins: inp.Inputs, seed: int) -> list[dict]:
    rng = random.Random(f"{seed}/commits")
    rows = []
    for pkg, (changes, license) in PACKAGES.items():
        versions = [d.version for d in inp.DOWNLOADS if d.name == pkg]
        trees = {v: _tree(ins, pkg, v) for v in versions}
        for old_v, new_v in zip(versions, versions[1:]):
            old_t, new_t = trees[old_v], trees[new_v]
            bullets = _changelog(new_t.get(changes, ""), new_v)
            for path in sorted(set(old_t) | set(new_t)):
                old, new = old_t.get(path, ""), new_t.get(path, "")
                if old == new or path == changes:
                    continue
                subject, message = _message(path, old, new, bullets, pkg, old_v, new_v, rng)
                ident = f"{pkg}:{old_v}->{new_v}:{path}".encode()
                rows.append({"commit": hashlib.sha1(ident).hexdigest(), "old_file": path if old else "",
                             "new_file": path if new else "", "old_contents": old, "new_contents": new,
                             "subject": subject, "message": message,
                             "lang": LANG.get("." + path.rsplit(".", 1)[-1], "Text"),
                             "license": license, "repos": ins.download(pkg).upstream})
    return rows


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    rng = random.Random(f"{seed}/commits/split")
    rows = _rows(ins, seed)
    small = [r for r in rows if len(r["old_contents"]) + len(r["new_contents"]) < 6000]
    picked_small = {id(r) for r in rng.sample(small, min(120, len(small)))}
    first = [r for r in rows if id(r) in picked_small]
    second: list = [r for r in rows if id(r) not in picked_small]
    dup = first[3]
    second.insert(rng.randrange(len(second)), dup)
    first.insert(30, b'{"commit": "0000000000000000000000000000000000000000", "old_file": "setup.py", "subj\n')
    first.insert(60, b'{"commit": "ffffffffffffffffffffffffffffffffffffffff", "subject": "Fix \xc3\x28 bytes", '
                     b'"message": "bad \xff"}\n')
    for name, shard in zip(FILES, (first, second)):
        for line, r in enumerate(shard, 1):
            if isinstance(r, bytes):
                defects.add("commits_malformed_line", family="commits", file=name, line=line,
                            why="broken_json" if b"subj\n" in r else "invalid_utf8")
            elif r is dup and shard is second:
                defects.add("commits_exact_duplicate", family="commits", file=name, line=line, commit=r["commit"],
                            of=f"{FILES[0]}:{first.index(dup) + 1}")
    return {FILES[0]: jsonl_bytes(first), FILES[1]: zstd_bytes(jsonl_bytes(second))}
