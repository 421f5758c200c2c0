"""JSON log lines: one object per line, extras included, uvicorn's coloured duplicate dropped."""

from __future__ import annotations

import json
import logging

from source_zoho_desk.collector.logs import JsonFormatter


def test_json_line_with_extras():
    record = logging.makeLogRecord({"name": "x", "levelno": 20, "levelname": "INFO", "msg": "stored %d",
                                    "args": (3,), "source": "ds_1", "color_message": "\x1b[36mstored\x1b[0m"})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "stored 3" and entry["source"] == "ds_1" and entry["level"] == "info"
    assert "color_message" not in entry and entry["ts"].endswith("Z")


def test_exceptions_are_one_line_too():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc"]
