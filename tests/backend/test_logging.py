"""Log levels: tornado's and our loggers build a record only when a handler will write it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from trevor_backend._logging import configure_logging
from trevor_backend.app import TrevorBackend

ROUTED = ("tornado.access", "tornado.application", "tornado.general", "trevor_backend")


@pytest.fixture
def routed_loggers() -> Iterator[None]:
    """configure_logging re-parents process-wide loggers: put them back afterwards."""
    saved = [
        (logging.getLogger(n), logging.getLogger(n).parent, logging.getLogger(n).level)
        for n in ROUTED
    ]
    yield
    for logger, parent, level in saved:
        logger.parent = parent
        logger.setLevel(level)


@pytest.mark.usefixtures("routed_loggers")
@pytest.mark.parametrize(
    ("level", "written"),
    [("WARN", {"warning"}), ("INFO", {"info", "warning"}), ("DEBUG", {"debug", "info", "warning"})],
)
def test_records_are_built_only_at_the_levels_written(level: str, written: set[str]) -> None:
    """traitlets keeps the application's logger at DEBUG and puts ``log_level`` on its
    handler: at WARN every request's access line was built as a record and then dropped."""
    app = TrevorBackend(log_level=level)
    out = io.StringIO()
    for handler in app.log.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(out)
    configure_logging(app.log, json_lines=False)
    for name in ROUTED:
        logger = logging.getLogger(name)
        built = {
            word
            for word, at in (
                ("debug", logging.DEBUG),
                ("info", logging.INFO),
                ("warning", logging.WARNING),
            )
            if logger.isEnabledFor(at)
        }
        assert built == written, name
        logger.debug("debug line")
        logger.info("info line")
        logger.warning("warning line")
    lines = out.getvalue()
    for word in ("debug", "info", "warning"):
        assert (lines.count(f"{word} line") == len(ROUTED)) == (word in written), word
