"""The one error type the CLI turns into a one-line message and exit status 2 (no traceback): input the user
can fix (a missing checkpoint, a data root without manifests, a dataset that is not reachable offline)."""
from __future__ import annotations


class InputError(ValueError):
    """Bad or missing input named in the message; `python -m evals` prints it and exits 2."""
