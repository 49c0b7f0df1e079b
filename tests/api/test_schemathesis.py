"""Property-based checks over the OpenAPI document (schemathesis): for generated requests to
every operation, no 5xx, and every response matches its documented status, media type and
schema. Bounded: a few examples per operation, derandomised."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import h, index_alerts, make_alert

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 4


def test_openapi_contract(app, ctx, keys):
    index_alerts(ctx.client, ctx.names, [make_alert(i) for i in range(5)])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = h(keys["admin"])
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as e:  # collect every operation's failure, then report them all
            failures.append(f"{op.method.upper()} {op.path}: {str(e)[:1500]}")
    assert operations >= 39
    assert not failures, "\n\n".join(failures)
