"""Property-based run of the API against its own OpenAPI document (schemathesis).

Bounded: a few positive and a few negative examples per operation, so the run
stays around a minute.  Bars: no server error (5xx); every answer's status,
content type and body as documented; input that breaks the document refused
with a 4xx.  Requests carry qb.officer's token over the demo data, and path
ids are folded onto the demo records' range so generated calls reach real rows.

(schemathesis' pytest loader does not run under pytest 9, so the operations
are driven here with their hypothesis strategies directly.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 12
DEMO_IDS = st.integers(min_value=1, max_value=12)


@pytest.fixture
def api_schema(app, demo_users):
    from hub.operations.demo import load_demo_data

    load_demo_data()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def operations(api_schema):
    return [result.ok() for result in api_schema.get_all_operations()]


def _run(operation, mode: GenerationMode, headers: dict) -> None:
    strategy = operation.as_strategy(generation_mode=mode)
    ids = [p.name for p in operation.path_parameters]
    if ids and mode is GenerationMode.POSITIVE:
        strategy = st.tuples(strategy, st.fixed_dictionaries({n: DEMO_IDS for n in ids})).map(
            lambda pair: _with_path(*pair)
        )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def _with_path(case, path_parameters):
    case.path_parameters = {**(case.path_parameters or {}), **path_parameters}
    return case


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_document(api_schema, api_token, mode):
    headers = api_token("qb.officer")
    found = operations(api_schema)
    assert len(found) >= 20
    for operation in found:
        _run(operation, mode, headers)
