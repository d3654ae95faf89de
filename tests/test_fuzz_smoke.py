"""A short fuzzing run in the suite: every operation, a few cases each, no 5xx (`make fuzz` runs the long one)."""
import io

import pytest

from tests.passes import same_on_every_database

pytest.importorskip("schemathesis")
pytestmark = same_on_every_database  # each run brings its own SQLite database


def test_every_operation_as_admin_answers_without_a_5xx(tmp_path):
    from tools.fuzz import run

    out = io.StringIO()
    [report] = run(roles=["admin"], max_examples=5, time_budget_s=50, database_url=f"sqlite:///{tmp_path}/fuzz.db",
                   out=out)
    assert report.operations > 60 and not report.cut_short, out.getvalue()
    assert report.findings == [], out.getvalue()


def test_every_operation_as_a_visitor_meets_the_spec_under_all_checks(tmp_path):
    """`python -m tools.fuzz --all-checks` in small: every check on every response, as a visitor; a valid request
    refused or an invalid one taken must be down to state (tools/fuzz.py, _explained_by_state)."""
    from tools.fuzz import run

    out = io.StringIO()
    [report] = run(roles=["visitor"], max_examples=2, time_budget_s=25, database_url=f"sqlite:///{tmp_path}/fuzz.db",
                   out=out, all_checks=True)
    assert report.operations > 60 and not report.cut_short, out.getvalue()
    assert report.checked == report.requests, out.getvalue()
    assert report.findings == [] and report.unexplained() == [], (out.getvalue(), report.unexplained()[:3])
