"""Log set-up: plain lines for people, JSON lines (with correlation ids) for log pipelines."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from . import tracing
from .principal import correlation_id


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id.get(),
            **tracing.current_ids(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(app_log: logging.Logger, *, json_lines: bool) -> None:
    """Route tornado's and our loggers through the application's handlers, at the level
    those handlers write."""
    if json_lines:
        for handler in app_log.handlers:
            handler.setFormatter(JSONFormatter())
    level = written_level(app_log)
    for name in ("tornado.access", "tornado.application", "tornado.general", "trevor_backend"):
        logger = logging.getLogger(name)
        logger.parent = app_log
        logger.setLevel(level)


def written_level(app_log: logging.Logger) -> int:
    """The least severe level any of ``app_log``'s handlers writes. traitlets keeps the
    application's logger at DEBUG and puts ``log_level`` on its console handler, so a logger
    at the logger's own level built a record for every request's access line only for the
    handler to drop it (``log_level=WARN``: about 1 % of a GET's CPU)."""
    own = app_log.getEffectiveLevel()
    handlers = [h.level for h in app_log.handlers]
    if not handlers:
        return own
    return max(own, min(handlers))
