"""Hypothesis profiles of the property tests.

The default profile (``fast``) keeps the folder well under a minute; ``HYPOTHESIS_PROFILE=long``
runs a campaign of ``HYPOTHESIS_EXAMPLES`` examples per test (20,000 by default)::

    HYPOTHESIS_PROFILE=long HYPOTHESIS_EXAMPLES=5000 python -m pytest tests/property
"""

from __future__ import annotations

from bad_input_support import PROFILE, examples
from hypothesis import HealthCheck, settings

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

# No deadline: a loaded 2-core machine makes per-example timings meaningless. The fast profile
# keeps no example database (nothing written under the work tree); the long one does, so a
# failure it finds is replayed first next time.
settings.register_profile(
    "fast", max_examples=examples(100), deadline=None, database=None, suppress_health_check=_HEALTH
)
settings.register_profile(
    "long", max_examples=examples(100), deadline=None, suppress_health_check=_HEALTH
)
settings.load_profile(PROFILE)
