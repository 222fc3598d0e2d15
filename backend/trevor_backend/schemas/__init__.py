"""Pydantic v2 models of the REST API (SPEC §9), kept apart from the ORM models: one module per
area, every model re-exported here so ``from trevor_backend.schemas import X`` names them all."""

from .audit import AuditEventOut, AuditList
from .base import TEXT_MAX, TITLE_MAX, Model, Open
from .errors import FieldErrorOut, Problem
from .lineage import CellChange, LineageOut, LineageVersion, TableDiff
from .notifications import NotificationList, NotificationOut, NotificationPatch, UnreadCount
from .previews import PreviewOut
from .projects import MembershipOut, ProjectList, ProjectOut, StatbarnList, UserMe
from .report import (
    AgentReport,
    AgentReportOut,
    Evidence,
    InformationLoss,
    ObjectAgentReport,
    ObjectReviewOut,
    ObjectSourceOut,
    Provenance,
    SdcFinding,
    SuppressionAudit,
    SuppressionInterval,
    SuppressionSuggestion,
    TableEvidenceCells,
    Verdict,
)
from .requests import (
    EvidenceIn,
    MetadataIn,
    MetadataOut,
    ObjectOut,
    RequestCreate,
    RequestList,
    RequestOut,
)
from .reviews import (
    ObjectDecisionIn,
    ObjectDecisionOut,
    ReviewIn,
    ReviewList,
    ReviewOut,
    ReviewQueue,
    ReviewQueueItem,
    ReviewSubmitted,
)
from .service import ApiIndex, ApiLink, Health, Ready, Version
from .tokens import TokenList, TokenOut

__all__ = [
    "TEXT_MAX",
    "TITLE_MAX",
    "AgentReport",
    "AgentReportOut",
    "ApiIndex",
    "ApiLink",
    "AuditEventOut",
    "AuditList",
    "CellChange",
    "Evidence",
    "EvidenceIn",
    "FieldErrorOut",
    "Health",
    "InformationLoss",
    "LineageOut",
    "LineageVersion",
    "MembershipOut",
    "MetadataIn",
    "MetadataOut",
    "Model",
    "NotificationList",
    "NotificationOut",
    "NotificationPatch",
    "ObjectAgentReport",
    "ObjectDecisionIn",
    "ObjectDecisionOut",
    "ObjectOut",
    "ObjectReviewOut",
    "ObjectSourceOut",
    "Open",
    "PreviewOut",
    "Problem",
    "ProjectList",
    "ProjectOut",
    "Provenance",
    "Ready",
    "RequestCreate",
    "RequestList",
    "RequestOut",
    "ReviewIn",
    "ReviewList",
    "ReviewOut",
    "ReviewQueue",
    "ReviewQueueItem",
    "ReviewSubmitted",
    "SdcFinding",
    "StatbarnList",
    "SuppressionAudit",
    "SuppressionInterval",
    "SuppressionSuggestion",
    "TableDiff",
    "TableEvidenceCells",
    "TokenList",
    "TokenOut",
    "UnreadCount",
    "UserMe",
    "Verdict",
    "Version",
]
