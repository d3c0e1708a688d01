"""HTTP layer: parse, authorise, call a service, shape the answer. No domain logic here."""

from __future__ import annotations

from flask import Blueprint, Flask

from registry.api import inquiries, loans, ops


def init_app(app: Flask) -> None:
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    v1.register_blueprint(loans.bp)
    v1.register_blueprint(inquiries.bp)
    app.register_blueprint(v1)
    app.register_blueprint(ops.bp)
