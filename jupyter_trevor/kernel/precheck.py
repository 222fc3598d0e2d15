"""The SDC pre-check of a result in the kernel (SPEC §9 ``trevor.check``): the backend's rule
engine on the evidence the helper attached, under the statbarn it was tagged with."""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd

from trevor_backend.sdc.report import ObjectReport, check_evidence

from .config import current_params
from .evidence import evidence_of

# Statbarns chosen with tag(), so check() on the same object later uses the same one.
_TAGGED: dict[int, tuple[weakref.ref[Any], str]] = {}


def check(
    result: Any, statbarn: str | None = None, *, offer_suppression: bool = True, **params: Any
) -> ObjectReport:
    """The SDC pre-check of a helper's result (SPEC §9 ``trevor.check``).
    ``offer_suppression=False`` leaves out the suggested suppression of a failing table (and
    so the finding that none passes the attacker's audit): the rest of the verdict alike."""
    evidence = evidence_of(result)
    chosen = statbarn if statbarn is not None else tagged_statbarn(result)
    return check_with_evidence(
        result, evidence, chosen, current_params(**params), offer_suppression=offer_suppression
    )


def check_with_evidence(
    result: Any, evidence: Any, statbarn: str | None, params: Any, *, offer_suppression: bool = True
) -> ObjectReport:
    table = result if isinstance(result, pd.DataFrame) else None
    return check_evidence(
        statbarn=statbarn,
        table=table,
        evidence=evidence,
        params=params,
        offer_suppression=offer_suppression,
    )


def tagged_statbarn(obj: Any) -> str | None:
    entry = _TAGGED.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def remember_statbarn(obj: Any, statbarn: str | None) -> None:
    if statbarn is None:
        return
    key = id(obj)

    def _forget(_: weakref.ref[Any], key: int = key) -> None:
        _TAGGED.pop(key, None)

    try:
        ref = weakref.ref(obj, _forget)
    except TypeError:
        return
    _TAGGED[key] = (ref, statbarn)
