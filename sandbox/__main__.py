"""`python -m sandbox`: which sandbox layers this machine gives a verification run (exit 1 if the
strict sandbox cannot run here). Use it on a worker image: `docker run --rm IMAGE python -m sandbox`."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sandbox.execution import SandboxConfig, SandboxMode, SandboxUnavailable, interpreter, require_layers


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    ap.add_argument("--verify-python", default=None, metavar="PATH",
                    help="interpreter or virtualenv the runs use (default: a stdlib-only interpreter)")
    ap.add_argument("--sandbox", choices=[m.value for m in SandboxMode], default=SandboxMode.STRICT.value,
                    help="strict: seccomp and Landlock are required; best-effort: report what exists")
    args = ap.parse_args(argv)
    cfg = SandboxConfig(python=args.verify_python, mode=SandboxMode(args.sandbox))
    try:
        uid = cfg.sandbox_uid if os.geteuid() == 0 and cfg.drop_privileges else None
        interp = interpreter(cfg.python, uid)
        layers = require_layers(cfg)
    except SandboxUnavailable as exc:
        print(f"sandbox unavailable ({cfg.mode.value}): {exc}")
        return 1
    packages = ", ".join(interp.packages) or "none"
    print(f"interpreter: {interp.executable} (Python {interp.version}); packages: {packages}")
    print(f"layers ({cfg.mode.value}): {', '.join(layers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
