"""Run untrusted Python under kernel-enforced limits and judge it by the tests that actually ran.

Its own layer below `pipelines` (curate's synthetic verification) and `evals` (pass@k): standard library
plus pyseccomp, no Beam, no JAX. `execution.run_tests` is the entry point; SECURITY.md is the threat model.
"""
