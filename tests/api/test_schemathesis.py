"""Property-based checks over the OpenAPI document (schemathesis): for generated requests to
every operation, no 5xx, and every response matches its documented status, media type and
schema; and (issue 16) every response carries the security headers, stays small, and no
problem document shows internals. Bounded: a few examples per operation, derandomised."""

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

MAX_ANSWER_BYTES = 1024 * 1024
INTERNALS = ("Traceback", "search_phase_execution_exception", 'File "/', "PyJWT")


def _header(response, name: str) -> str:
    v = response.headers.get(name) or response.headers.get(name.lower()) or ""
    return v[0] if isinstance(v, list) else str(v)


def security_headers(ctx, response, case):
    """Every answer: CSP without framing, no sniffing, no caching (issue 16 item 9)."""
    csp = _header(response, "content-security-policy")
    assert "frame-ancestors 'none'" in csp, f"CSP missing or allows framing: {csp!r}"
    assert _header(response, "x-content-type-options") == "nosniff"
    assert _header(response, "cache-control") == "no-store"


def bounded_answers_without_internals(ctx, response, case):
    """No input makes an answer huge (item 1: echoed YAML) or a problem show internals
    (item 12)."""
    body = response.content or b""
    assert len(body) <= MAX_ANSWER_BYTES, f"{len(body)} bytes"
    if "problem+json" in _header(response, "content-type"):
        text = body.decode("utf-8", "replace")
        for word in INTERNALS:
            assert word not in text, f"problem shows {word!r}: {text[:300]}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    security_headers,
    bounded_answers_without_internals,
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
