"""A bare Flask app answering `/healthz` as the registry does: `make bench` measures it under
the same gunicorn settings, so that the registry's `/healthz` (its middleware included) can be
compared with the cheapest answer Flask gives on this machine."""

from __future__ import annotations

from typing import Any

from flask import Flask

app = Flask("bare")


@app.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}
