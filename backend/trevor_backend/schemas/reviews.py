"""Reviews, decisions and the review queue."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ..contract import Decision, RequestStatus, Visibility
from .base import TEXT_MAX, Model
from .requests import RequestOut


class ObjectDecisionIn(Model):
    object_id: str = Field(min_length=1, max_length=32)
    decision: Decision
    comment: str = Field(default="", max_length=TEXT_MAX)
    visibility: Visibility = Visibility.PUBLIC


class ReviewIn(Model):
    """A checker's review of the current revision: an overall decision and one decision for
    every current object. Requesting changes or rejecting an object needs a comment."""

    decision: Decision
    summary: str = Field(default="", max_length=TEXT_MAX)
    objects: list[ObjectDecisionIn] = Field(max_length=1000)


class ObjectDecisionOut(Model):
    object_id: str
    decision: Decision
    comment: str | None = Field(description="null when the comment is private to checkers")
    visibility: Visibility


class ReviewOut(Model):
    id: str
    revision: int
    kind: Literal["human"]
    reviewer: str = Field(description="username; 'checker N' for researchers")
    mine: bool
    decision: Decision
    summary: str
    created_at: datetime
    objects: list[ObjectDecisionOut]


class ReviewList(Model):
    request: str
    revision: int
    status: RequestStatus
    required_reviews: int
    items: list[ReviewOut]
    hidden: int = Field(description="Reviews of open rounds the caller may not see yet (blinding)")


class ReviewSubmitted(Model):
    review: ReviewOut
    request: RequestOut
    decided: bool = Field(description="This review completed the round")


class ReviewQueueItem(Model):
    request: RequestOut
    recommendation: Literal["pass", "fail", "review"] | None
    verdicts: dict[str, int] = Field(description="Agent verdict counts: pass, review, fail")
    reviews_received: int
    reviews_required: int


class ReviewQueue(Model):
    items: list[ReviewQueueItem]
    next_cursor: str | None = None
