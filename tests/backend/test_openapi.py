"""docs/openapi.json is valid OpenAPI 3.1 and equal to what the routes say."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from trevor_backend import openapi
from trevor_backend.web import api_routes

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_checked_in_document_matches_the_routes() -> None:
    assert DOC.read_text() == openapi.render(api_routes()), (
        "docs/openapi.json is stale: run `python -m trevor_backend.openapi > docs/openapi.json`"
    )


def test_document_is_valid_openapi_31() -> None:
    doc = json.loads(DOC.read_text())
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_route_and_verb_is_documented() -> None:
    doc = json.loads(DOC.read_text())
    for pattern, handler in api_routes():
        template = openapi.path_template(pattern)
        assert template in doc["paths"], template
        assert set(openapi.operations(handler)) == set(doc["paths"][template]), template
    assert len(doc["paths"]) == len(api_routes())


def test_problem_responses_use_problem_json() -> None:
    doc = json.loads(DOC.read_text())
    for path, item in doc["paths"].items():
        for verb, op in item.items():
            for status, resp in op["responses"].items():
                if int(status) >= 400 and "content" in resp:
                    assert list(resp["content"]) == ["application/problem+json"], (path, verb)
