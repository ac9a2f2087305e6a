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
# Agreement codes of the demo data (and one that does not exist), so the
# agreement, compliance and audit-log routes answer from real rows too.
DEMO_CODES = st.sampled_from(["QB-KM-MOU", "QB-SV-MOU", "NOPE"])
# Tree positions near the demo logs' sizes: an arbitrary 18-digit one is
# always out of range, and proofs and entries would never be answered.
POSITIONS = st.integers(min_value=0, max_value=8)


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
        folded = {n: DEMO_CODES if n == "code" else DEMO_IDS for n in ids}
        strategy = st.tuples(strategy, st.fixed_dictionaries(folded)).map(
            lambda pair: _with_path(*pair)
        )
    if "/audit/" in operation.path and mode is GenerationMode.POSITIVE:
        names = [p.name for p in operation.query]
        strategy = st.tuples(strategy, st.fixed_dictionaries({n: POSITIONS for n in names})).map(
            lambda pair: _with_query(*pair)
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


def _with_query(case, positions):
    # only the parameters the example already has: leaving one out stays possible
    case.query = {
        **(case.query or {}),
        **{k: v for k, v in positions.items() if k in (case.query or {})},
    }
    return case


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
        if mode is GenerationMode.NEGATIVE and _nothing_to_break(operation):
            continue
        _run(operation, mode, headers)


def _nothing_to_break(operation) -> bool:
    """No parameter, no body and no login (the public checkpoint key): a negative
    example cannot exist, and hypothesis would call the run unsatisfiable."""
    raw = operation.definition.raw
    return not raw.get("parameters") and "requestBody" not in raw and raw.get("security") == []
