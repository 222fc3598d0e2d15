"""RO-Crate packaging of a released request: its metadata (:mod:`.metadata`) and the zip
streamed to the store (:mod:`.zipstream`)."""

from .metadata import (
    AD_HOC_TERMS,
    METADATA_NAME,
    PREVIEW_NAME,
    RO_CRATE_CONTEXT,
    RO_CRATE_SPEC,
    TERMS_BASE,
    CrateFile,
    CrateObjectDecision,
    CratePerson,
    CrateRequest,
    CrateReview,
    assign_arcnames,
    build_metadata,
    presented,
    render_preview,
)
from .zipstream import IntegrityError, ZipResult, write_zip

__all__ = [
    "AD_HOC_TERMS",
    "METADATA_NAME",
    "PREVIEW_NAME",
    "RO_CRATE_CONTEXT",
    "RO_CRATE_SPEC",
    "TERMS_BASE",
    "CrateFile",
    "CrateObjectDecision",
    "CratePerson",
    "CrateRequest",
    "CrateReview",
    "IntegrityError",
    "ZipResult",
    "assign_arcnames",
    "build_metadata",
    "presented",
    "render_preview",
    "write_zip",
]
