"""What `make test`'s second pass (PostgreSQL and Redis) leaves to the first.

A test marked `same_on_every_database` brings its own SQLite database or none, so TEST_DATABASE_URL and
TEST_REDIS_URL cannot change its outcome: the second pass sets SAME_ON_EVERY_DATABASE_SKIP=1 and skips it,
as it already ran (CONTRACT_SKIP_CHILD_RUN does the same for the contract's child run).
"""
import os

import pytest

same_on_every_database = pytest.mark.skipif(
    os.environ.get("SAME_ON_EVERY_DATABASE_SKIP") == "1",
    reason="ran in the first pass; its outcome does not depend on the database")
