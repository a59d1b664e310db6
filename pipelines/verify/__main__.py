"""`python -m pipelines.verify`: which sandbox layers this machine gives a verification run (exit 1 if the
strict sandbox cannot run here). Use it on a worker image: `docker run --rm IMAGE python -m pipelines.verify`."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipelines.verify.sandbox import SandboxConfig, SandboxUnavailable, interpreter, require_layers


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.verify", description=__doc__.split("\n")[0])
    ap.add_argument("--verify-python", default=None, metavar="PATH",
                    help="interpreter or virtualenv the runs use (default: a stdlib-only interpreter)")
    ap.add_argument("--sandbox", choices=("strict", "best-effort"), default="strict",
                    help="strict: seccomp and Landlock are required; best-effort: report what exists")
    args = ap.parse_args(argv)
    cfg = SandboxConfig(python=args.verify_python, mode=args.sandbox)
    try:
        uid = cfg.sandbox_uid if os.geteuid() == 0 and cfg.drop_privileges else None
        interp = interpreter(cfg.python, uid)
        layers = require_layers(cfg)
    except SandboxUnavailable as exc:
        print(f"sandbox unavailable ({cfg.mode}): {exc}")
        return 1
    packages = ", ".join(interp.packages) or "none"
    print(f"interpreter: {interp.executable} (Python {interp.version}); packages: {packages}")
    print(f"layers ({cfg.mode}): {', '.join(layers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
