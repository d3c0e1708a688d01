"""Operational endpoints, apart from the lender API: health, readiness, metrics, schema."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from registry import metrics
from registry.api.openapi import openapi_document
from registry.extensions import db, state
from registry.problems import Problem

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, Any]:
    try:
        db().execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise Problem(503, "the database is not reachable", "unavailable") from None
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
