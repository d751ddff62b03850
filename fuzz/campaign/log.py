"""The campaign's event log: structlog JSON lines in ``OUT/log.jsonl``.

Every process of a campaign (the campaign itself, each worker, libFuzzer's
children) appends named events with key/values to the one file; each line is
one JSON object (``event``, ``level``, ``timestamp``, ``pid``, ``role`` and the
event's own fields).
"""
from __future__ import annotations

import os
from pathlib import Path

import structlog

__all__ = ["make_logger"]


def make_logger(out: Path, **bound):
    """A structlog logger appending JSON lines to ``out/log.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    stream = open(out / "log.jsonl", "a", buffering=1)
    logger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(sort_keys=True)],
    )
    return logger.bind(pid=os.getpid(), **bound)
