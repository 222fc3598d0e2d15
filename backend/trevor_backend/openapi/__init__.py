"""The OpenAPI 3.1 document, generated from a route table and the handlers' ``@operation``
metadata. ``docs/openapi.json`` is its checked-in output (``__main__`` renders the route table
of ``web.py``); a test keeps the two equal.

    python -m trevor_backend.openapi > docs/openapi.json

The routes are passed in rather than imported: ``/api/v1/openapi.json`` serves this document
from inside the route table, which would otherwise import itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .. import contract
from ..handlers.spec import Operation
from ..schemas import Problem
from ..version import __version__

Routes = Iterable[tuple[str, type]]

VERBS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def path_template(pattern: str) -> str:
    return _GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern)


def operations(handler: type) -> dict[str, Operation]:
    """The documented verbs a handler implements (a verb without metadata is a bug)."""
    out = {}
    for verb in VERBS:
        fn = getattr(handler, verb, None)
        base = getattr(_base_handler(), verb, None)
        if fn is None or fn is base:
            continue
        op = getattr(fn, "__openapi__", None)
        if op is None:
            raise LookupError(f"{handler.__name__}.{verb} has no @operation metadata")
        out[verb] = op
    return out


def _base_handler() -> type:
    from tornado.web import RequestHandler

    return RequestHandler


class _Schemas:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            self.defs[name] = sub
        self.defs[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


#: Formats of query parameters by name, so clients (and schemathesis) know what is valid.
_INT64 = 2**63 - 1
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": _INT64},
    "after": {"type": "integer", "minimum": 0, "maximum": _INT64},
    "revision": {"type": "integer", "minimum": 1, "maximum": _INT64},
    "last_event_id": {"type": "integer", "minimum": 0, "maximum": _INT64},
    "expires": {"type": "string", "pattern": "^[0-9]{1,12}$"},
    "signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "cursor": {"type": "string", "pattern": "^[A-Za-z0-9_=-]+$", "description": "opaque"},
    "diff": {"type": "string", "pattern": "^[A-Za-z0-9_-]+,[A-Za-z0-9_-]+$"},
    "filename": {"type": "string", "minLength": 1, "maxLength": 255},
    "replaces": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
}
#: Answers every operation of a kind can give, whatever its handler lists (issue 10):
#: problem+json from the base handler for bad tokens, rate limits, malformed or oversized
#: bodies, and invalid query values.
_AUTH_STATUSES = (401, 429)
_JSON_BODY_STATUSES = (400, 413, 422)
_QUERY_STATUSES = (422,)


def _content(
    kind: type[BaseModel] | str | tuple[str, ...] | None, schemas: _Schemas, problem: bool
) -> Any:
    if kind is None:
        return None
    if isinstance(kind, tuple):
        return {k: {"schema": {"type": "string", "format": "binary"}} for k in kind}
    if isinstance(kind, str):
        return {kind: {"schema": {"type": "string", "format": "binary"}}}
    media = "application/problem+json" if problem else "application/json"
    return {media: {"schema": schemas.ref(kind)}}


def build(routes: Routes) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, Any] = {}
    for pattern, handler in routes:
        template = path_template(pattern)
        params = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
            }
            for n in _GROUP.findall(pattern)
        ]
        item: dict[str, Any] = {}
        for verb, op in operations(handler).items():
            entry: dict[str, Any] = {
                "summary": op.summary,
                "tags": list(op.tags),
                "operationId": f"{verb}_{handler.__name__}",
            }
            query = [
                {
                    "name": n,
                    "in": "query",
                    "required": n == "filename",
                    "description": d,
                    "schema": QUERY_SCHEMAS.get(n, {"type": "string"}),
                }
                for n, d in op.query.items()
            ]
            headers = [
                {
                    "name": n,
                    "in": "header",
                    "required": False,
                    "description": d,
                    "schema": {"type": "string"},
                }
                for n, d in op.headers.items()
            ]
            if params or query or headers:
                entry["parameters"] = params + query + headers
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": _content(op.body, schemas, problem=False),
                }
            responses = dict(op.responses)
            implied: list[int] = []
            if not op.public:
                implied += _AUTH_STATUSES
            if op.body is not None and not isinstance(op.body, str):
                implied += _JSON_BODY_STATUSES
            if query:
                implied += _QUERY_STATUSES
            if params:
                implied.append(404)  # no such id, or an id the caller may not see
            for status in implied:
                responses.setdefault(status, Problem)
            entry["responses"] = {}
            for status, kind in sorted(responses.items()):
                resp: dict[str, Any] = {"description": _describe(status)}
                content = _content(kind, schemas, problem=status >= 400)
                if content:
                    resp["content"] = content
                entry["responses"][str(status)] = resp
            if op.public:
                entry["security"] = []
            item[verb] = entry
        paths[template] = item
    enums = {
        "RequestStatus": [s.value for s in contract.RequestStatus],
        "ObjectState": [s.value for s in contract.ObjectState],
        "Direction": [s.value for s in contract.Direction],
        "Role": [s.value for s in contract.Role],
        "Decision": [s.value for s in contract.Decision],
    }
    for name, values in enums.items():
        schemas.defs.setdefault(name, {"type": "string", "enum": values, "title": name})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trevor review backend",
            "version": __version__,
            "description": "REST API of the jupyter-trevor airlock backend. Errors are RFC "
            "9457 application/problem+json.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(schemas.defs.items())),
        },
    }


def _describe(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


def render(routes: Routes) -> str:
    return json.dumps(build(routes), indent=2, sort_keys=False) + "\n"
