"""jupyter-trevor: the researcher side of the airlock."""

from typing import Any

from ._version import __version__

# The kernel API (SPEC §9: `import jupyter_trevor as trevor`). Loaded on first use so that the
# server extension importing this package does not pay for pandas and the rule engine.
_KERNEL_API = (
    "TaggedOutput",
    "TrevorFrame",
    "check",
    "configure",
    "crosstab",
    "current_params",
    "describe",
    "form",
    "hist",
    "logit",
    "ols",
    "outputs",
    "pivot_table",
    "probit",
    "provenance",
    "suppress",
    "survival",
    "tag",
)

__all__ = ["__version__", *_KERNEL_API]


def __getattr__(name: str) -> Any:
    if name in _KERNEL_API:
        from . import kernel

        return getattr(kernel, name)
    raise AttributeError(f"module 'jupyter_trevor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_KERNEL_API})


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    # Imported here, not at module top: `import jupyter_trevor` in a kernel must stay light and
    # must not pull in jupyter_server.
    from .extension import TrevorExtensionApp

    return [{"module": "jupyter_trevor", "app": TrevorExtensionApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-trevor"}]
