"""trevor's statistical disclosure control engine.

Standard library, numpy and pandas only: the kernel runs the same checks as the backend.
"""

from .checks import Finding
from .evidence import TableEvidence, evidence_from_json, evidence_to_json
from .params import Params
from .report import ObjectReport, aggregate, check_evidence, check_object
from .tabulate import table_evidence

__all__ = [
    "Finding",
    "ObjectReport",
    "Params",
    "TableEvidence",
    "aggregate",
    "check_evidence",
    "check_object",
    "evidence_from_json",
    "evidence_to_json",
    "table_evidence",
]
