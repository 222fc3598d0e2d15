"""OpenAPI metadata attached to handler methods; ``trevor_backend.openapi`` turns it into the
document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

# Per status code: the body's model, a media type (or several), or no body.
Responses = dict[int, type[BaseModel] | str | tuple[str, ...] | None]


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | str | None = None  # a model, or a media type for raw bodies
    #: per status: a model (JSON), a media type, several media types, or None (no body)
    responses: Responses = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    public: bool = False


def operation(
    summary: str,
    *,
    tags: tuple[str, ...] | str,
    body: type[BaseModel] | str | None = None,
    responses: Responses | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    public: bool = False,
) -> Callable[[Any], Any]:
    def wrap(fn: Any) -> Any:
        fn.__openapi__ = Operation(
            summary=summary,
            tags=(tags,) if isinstance(tags, str) else tags,
            body=body,
            responses=responses or {200: None},
            query=query or {},
            headers=headers or {},
            public=public,
        )
        return fn

    return wrap
