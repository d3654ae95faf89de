"""A short fuzzing run in the suite: every operation, a few cases each, no 5xx (`make fuzz` runs the long one)."""
import io

import pytest

pytest.importorskip("schemathesis")


def test_every_operation_as_admin_answers_without_a_5xx(tmp_path):
    from tools.fuzz import run

    out = io.StringIO()
    [report] = run(roles=["admin"], max_examples=5, time_budget_s=50, database_url=f"sqlite:///{tmp_path}/fuzz.db",
                   out=out)
    assert report.operations > 60 and not report.cut_short, out.getvalue()
    assert report.findings == [], out.getvalue()
