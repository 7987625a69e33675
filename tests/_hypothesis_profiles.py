"""Hypothesis profiles for steerbench's tests; imported by tests/conftest.py.

`ci` turns randomness off (the same examples on every run) and the per-example deadline off
(shared CI machines are slow and bursty). Select with `--hypothesis-profile ci` or
HYPOTHESIS_PROFILE=ci.
"""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
