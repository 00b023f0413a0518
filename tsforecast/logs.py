"""Log lines on stderr for people (`text`) or for log collectors (`json`, one object per line).

Library modules log with `logging` as usual. The CLI reports what a run did as *events*: log
records on the `tsforecast.events` logger carrying an `event` name and `fields` (version,
metrics, duration...), which the json format spreads into the object.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any

from . import jsontext

FORMATS = ("text", "json")
events = logging.getLogger("tsforecast.events")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it per command)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def json_line(
    event: str, message: str, level: str = "info", created: float | None = None, **fields: Any
) -> str:
    """One log object; `created` is a Unix time, default now."""
    when = (
        datetime.now(timezone.utc)
        if created is None
        else datetime.fromtimestamp(created, timezone.utc)
    )
    entry = {
        "event": event,
        "timestamp": when.isoformat(timespec="milliseconds"),
        "level": level,
        "message": message,
        **fields,
    }
    return jsontext.dumps(entry, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        event = getattr(record, "event", "log")
        return json_line(
            event, record.getMessage(), record.levelname.lower(), record.created, **fields
        )


def configure(log_format: str) -> None:
    """One handler on the `tsforecast` logger: library warnings and CLI events at info."""
    root = logging.getLogger("tsforecast")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _CurrentStderr()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter("tsforecast: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    root.propagate = False
    events.setLevel(logging.INFO)


def emit(event: str, message: str, **fields: Any) -> None:
    events.info(message, extra={"event": event, "fields": fields})
