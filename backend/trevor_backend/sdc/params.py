"""SDC parameters: deployment defaults with per-project overrides.

Names follow SPEC §9 (``threshold``, ``p_ratio``, ``nk_n``, ``nk_k``, ``dof``,
``zeros_are_disclosive``, ``check_missing_values``); ACRO's YAML names are accepted as
aliases so a TRE can paste its ACRO ``default.yaml`` values unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# ACRO's configuration keys (acro/default.yaml) mapped to trevor's names.
ACRO_ALIASES: dict[str, str] = {
    "safe_threshold": "threshold",
    "safe_dof_threshold": "dof",
    "safe_nk_n": "nk_n",
    "safe_nk_k": "nk_k",
    "safe_pratio_p": "p_ratio",
    "survival_safe_threshold": "survival_threshold",
    "safe_round_base": "rounding_base",
}

DEFAULT_BLOCKED_EXTENSIONS: tuple[str, ...] = (
    # ACRO's defaults: vector graphics can carry every plotted data point.
    ".svg",
    ".gph",
    # Raw data and serialised objects: never outputs, always microdata or code.
    ".dta",
    ".sav",
    ".sas7bdat",
    ".rds",
    ".rdata",
    ".rda",
    ".pkl",
    ".pickle",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".db",
    ".sqlite",
    ".feather",
)


@dataclasses.dataclass(frozen=True)
class Params:
    """The risk appetite of a deployment or project. Immutable; derive with ``replace``."""

    threshold: int = 10
    p_ratio: float = 0.10
    nk_n: int = 2
    nk_k: float = 0.90
    dof: int = 10
    zeros_are_disclosive: bool = True
    check_missing_values: bool = False
    survival_threshold: int = 10
    rounding_base: int = 5
    max_file_size: int = 100 * 1024 * 1024
    blocked_extensions: tuple[str, ...] = DEFAULT_BLOCKED_EXTENSIONS
    # How many largest contributions per cell the kernel keeps as evidence; at least
    # max(nk_n, 2) so both dominance rules can be evaluated later with other parameters.
    evidence_top_k: int = 5
    # Protection a suppressed cell must keep against the published totals (docs/sdc.md):
    # frequency tables, the width of the attacker's interval (None: ``threshold``);
    # magnitude tables, the share of the cell's value either side (None: ``p_ratio``).
    protection_level: int | None = None
    protection_ratio: float | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _validate(field.name, getattr(self, field.name))
        object.__setattr__(
            self, "blocked_extensions", tuple(e.lower() for e in self.blocked_extensions)
        )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, base: Params | None = None) -> Params:
        """Overlay ``mapping`` on ``base`` (or the defaults); unknown names raise ValueError."""
        base = base if base is not None else cls()
        if not mapping:
            return base
        names = set(cls.field_names())
        changes: dict[str, Any] = {}
        for raw_key, value in mapping.items():
            key = ACRO_ALIASES.get(raw_key, raw_key)
            if key not in names:
                raise ValueError(f"unknown SDC parameter {raw_key!r}")
            if key == "blocked_extensions":
                if isinstance(value, str) or not isinstance(value, list | tuple):
                    raise ValueError(f"SDC parameter {raw_key!r} must be a list of extensions")
                value = tuple(value)
            elif isinstance(value, float) and key in _INT_FIELDS and value.is_integer():
                value = int(value)
            _validate(key, value, raw_key)
            changes[key] = value
        return dataclasses.replace(base, **changes)

    def replace(self, **changes: Any) -> Params:
        return Params.from_mapping(changes, base=self)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["blocked_extensions"] = list(self.blocked_extensions)
        return out

    @property
    def top_k(self) -> int:
        return max(self.evidence_top_k, self.nk_n, 2)


_INT_FIELDS = {
    "threshold",
    "nk_n",
    "dof",
    "survival_threshold",
    "rounding_base",
    "max_file_size",
    "evidence_top_k",
    "protection_level",
}
_FRACTION_FIELDS = {"p_ratio", "nk_k", "protection_ratio"}
_OPTIONAL_FIELDS = {"protection_level", "protection_ratio"}
_BOOL_FIELDS = {"zeros_are_disclosive", "check_missing_values"}
_MINIMUM = {"nk_n": 1, "rounding_base": 1, "evidence_top_k": 1, "protection_level": 1}


def _validate(key: str, value: Any, shown: str | None = None) -> None:
    shown = shown or key
    if value is None and key in _OPTIONAL_FIELDS:
        return
    if key in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ValueError(f"SDC parameter {shown!r} must be true or false, not {value!r}")
    elif key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"SDC parameter {shown!r} must be an integer, not {value!r}")
        if value < _MINIMUM.get(key, 0):
            raise ValueError(f"SDC parameter {shown!r} must be at least {_MINIMUM.get(key, 0)}")
    elif key in _FRACTION_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"SDC parameter {shown!r} must be a number, not {value!r}")
        if not 0 <= value <= 1:
            raise ValueError(f"SDC parameter {shown!r} must be between 0 and 1, not {value!r}")
    elif key == "blocked_extensions" and not all(
        isinstance(e, str) and e.startswith(".") for e in value
    ):
        raise ValueError(f"SDC parameter {shown!r} must list extensions like '.svg'")


DEFAULT = Params()
