"""The schema fuzzing's knobs (environment variables), its request counter and the connection hold: shared by
tests/fuzz/conftest.py (the world, the summary) and tests/fuzz/test_schemathesis.py (the tests)."""

import os
from collections import Counter

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

# Hypothesis examples per operation in the fuzzing phase (the examples and coverage phases take every case the
# schema defines). The CI default keeps the whole fuzz run to a few minutes per database; a deep local run:
#   FUZZ_MAX_EXAMPLES=500 FUZZ_STATEFUL_EXAMPLES=200 FUZZ_COVERAGE_ROLES=admin,worker \
#   .venv/bin/python -m pytest tests/fuzz
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "10"))
# The coverage phase (every boundary and every kind of invalid value the schema implies, about 6000 requests) takes
# about 2.5 minutes per role; its inputs do not depend on the role, and the bureau admin's requests go furthest
# (workers stop at 403 on most writes), so CI runs it as the admin. FUZZ_COVERAGE_ROLES=admin,worker runs both.
COVERAGE_ROLES = os.environ.get("FUZZ_COVERAGE_ROLES", "admin").split(",")
# A fixed seed makes CI reproducible; FUZZ_SEED=<another number> explores other inputs.
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))

ROLES = ("worker", "admin")

# Requests sent, by (role, phase, generation mode): printed at the end of the run (see pytest_terminal_summary).
CASES: Counter = Counter()


def hold_connection() -> None:
    """Django's test client does this around each of its requests; schemathesis calls the WSGI handler itself,
    whose request signals would otherwise close the connection that holds these transactions. Call it again after
    using the test client: it reconnects the receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
