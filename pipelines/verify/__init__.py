"""Synthetic verification: a kernel-enforced sandbox (sandbox.py and the stdlib-only pieces it ships into
the sandbox: launcher.py, landlock.py, harness.py; the seccomp filter from seccomp.py) and the per-document
check (synthetic.py)."""
