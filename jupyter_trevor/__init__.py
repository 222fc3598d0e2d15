"""jupyter-trevor: the researcher side of the airlock."""

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    # Imported here, not at module top: `import jupyter_trevor` in a kernel must stay light and
    # must not pull in jupyter_server.
    from .extension import TrevorExtensionApp

    return [{"module": "jupyter_trevor", "app": TrevorExtensionApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-trevor"}]
