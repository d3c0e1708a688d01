"""Operational endpoints, apart from the lender API: health, readiness, metrics, schema."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from registry import metrics
from registry.api.openapi import openapi_document
from registry.db import UNAVAILABLE_RETRY_AFTER, database_trouble
from registry.extensions import db, state
from registry.problems import Problem

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, Any]:
    """Ready when the database answers; 503 while it does not, and ready again as soon as it
    does (the pool reconnects by itself: nothing needs restarting)."""
    session = db()
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        session.rollback()
        known = database_trouble(exc) is not None
        raise Problem(
            503,
            "not ready: the database is not reachable"
            if known
            else "not ready: the database fails to answer (see the registry's log)",
            "unavailable",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
        ) from None
    finally:
        session.close()
    return {"status": "ready", "database": "ok"}


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    settings = state().settings
    if not metrics.allowed(
        settings.metrics_token, settings.production, request.headers.get("Authorization")
    ):
        # As if absent: the endpoint's existence is nobody else's business.
        raise Problem(404, "not found", "not-found")
    return metrics.render()


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
