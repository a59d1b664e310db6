"""Builders for the sample corpus in data/sample (see data/make_sample.py)."""
