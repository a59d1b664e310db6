"""What a run directory keeps of its inputs so it evaluates and exports on its own: WORKDIR/tokenizer.model.

A checkpoint's meta records the mixture's path as it was at training time; after the run is copied to
another folder, machine or gs://, that path (and the tokenizer path the tokenize job recorded, often
relative to the command's working directory) may no longer resolve. The tokenizer is small (~1 MiB at a
256k vocabulary), so the trainer copies it into the run once, checked against the mixture's SHA-256;
evals.checkpoint reads it from there first.
"""
from __future__ import annotations

import hashlib

TOKENIZER_NAME = "tokenizer.model"


def mixture_tokenizer(mixture: dict) -> tuple[str | None, str | None]:
    """(tokenizer path the first source's manifest records, or None; why not, or None)."""
    from tokens import paths
    from tokens.manifest import ManifestError, load_manifest

    for name in sorted(mixture.get("sources", {})):
        try:
            manifest = load_manifest(mixture["sources"][name]["manifest"])
        except (ManifestError, OSError) as e:
            return None, f"{name}'s manifest cannot be read ({e})"
        path = manifest.tokenizer.get("path")
        if path and paths.exists(path):
            return path, None
        return None, f"the tokenizer path {path!r} recorded by {name}'s manifest does not resolve from here"
    return None, "the mixture has no sources"


def keep_tokenizer(workdir: str, mixture: dict) -> str | None:
    """Copy the mixture's tokenizer to WORKDIR/tokenizer.model (atomic; kept when already there with the
    right SHA-256). Returns a warning line when it cannot, else None."""
    from tokens import paths

    target = paths.join(workdir, TOKENIZER_NAME)
    expected = mixture.get("tokenizer_sha256")
    if paths.exists(target) and hashlib.sha256(paths.read_bytes(target)).hexdigest() == expected:
        return None
    source, why = mixture_tokenizer(mixture)
    if source is None:
        return f"warning: the run keeps no copy of its tokenizer ({why}); evaluate it with --tokenizer"
    data = paths.read_bytes(source)
    if expected and hashlib.sha256(data).hexdigest() != expected:
        return (f"warning: {source} is not the tokenizer the mixture was built with (SHA-256 differs); "
                "the run keeps no copy of it")
    paths.write_atomic(target, data)
    return None
