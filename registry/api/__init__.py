"""HTTP layer: parse, authorise, call a service, shape the answer. No domain logic here."""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

from registry.api import disputes, inquiries, loans, ops, tokens


class LoanRefConverter(BaseConverter):
    """A lender's loan_ref in the path: any text, slashes included, even a leading one."""

    regex = ".+"
    part_isolating = False


def init_app(app: Flask) -> None:
    # "/v1/loans//x" names loan "/x": no merging of slashes, and no redirect.
    app.url_map.merge_slashes = False
    app.url_map.converters["loan_ref"] = LoanRefConverter
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    v1.register_blueprint(loans.bp)
    v1.register_blueprint(inquiries.bp)
    v1.register_blueprint(tokens.bp)
    v1.register_blueprint(disputes.bp)
    app.register_blueprint(v1)
    app.register_blueprint(ops.bp)
