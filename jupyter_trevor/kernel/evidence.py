"""Results that carry their SDC evidence.

Tables are ``EvidenceFrame``s (``display.TrevorFrame`` adds how they render): a
``pandas.DataFrame`` subclass whose derived objects (``.head()``, arithmetic, ...) are plain
DataFrames, so evidence stays bound to exactly the table it describes. Other objects (figures,
model results) are tracked by identity in a weak registry.
"""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd

from trevor_backend.sdc.evidence import TableEvidence

Evidence = TableEvidence | dict[str, Any]

_REGISTRY: dict[int, tuple[weakref.ref[Any], Evidence]] = {}


# pandas has no type information here (no pandas-stubs), so mypy sees DataFrame as Any;
# subclassing it is pandas' documented way to carry metadata along.
class EvidenceFrame(pd.DataFrame):  # type: ignore[misc]
    """A DataFrame with the evidence of the helper that computed it."""

    _metadata = ["_trevor_evidence"]
    _trevor_evidence: Any = None

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    @property
    def trevor_evidence(self) -> Any:
        return self._trevor_evidence


def attach(obj: Any, evidence: TableEvidence | dict[str, Any]) -> Any:
    if isinstance(obj, EvidenceFrame):
        obj._trevor_evidence = evidence
        return obj
    key = id(obj)

    def _forget(_: Any, key: int = key) -> None:
        _REGISTRY.pop(key, None)

    try:
        ref = weakref.ref(obj, _forget)
    except TypeError:
        # Objects that cannot be weakly referenced keep an attribute instead.
        obj._trevor_evidence = evidence
        return obj
    _REGISTRY[key] = (ref, evidence)
    return obj


def evidence_of(obj: Any) -> Evidence | None:
    found = getattr(obj, "_trevor_evidence", None) if isinstance(obj, EvidenceFrame) else None
    if isinstance(found, TableEvidence | dict):
        return found
    entry = _REGISTRY.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    found = getattr(obj, "_trevor_evidence", None) if not isinstance(obj, pd.DataFrame) else None
    return found if isinstance(found, TableEvidence | dict) else None
