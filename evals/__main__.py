"""`python -m evals harness|code|heldout|sweep|compare`: evaluate checkpoints and run the paper's sweeps."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "harness":            # lm_eval's own CLI with `code-mixtures` registered
        from evals.harness import main as harness_main

        return harness_main(argv[1:])
    from evals.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
