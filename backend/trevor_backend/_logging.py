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
    """Route tornado's and our loggers through the application's handlers."""
    if json_lines:
        for handler in app_log.handlers:
            handler.setFormatter(JSONFormatter())
    for name in ("tornado.access", "tornado.application", "tornado.general", "trevor_backend"):
        logger = logging.getLogger(name)
        logger.parent = app_log
        logger.setLevel(app_log.level)
