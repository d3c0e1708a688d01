"""The page at `/`: what this server is and where to go (the console, the OpenAPI document,
the README's walk-through). A browser opening the address `make run` prints lands here
rather than on a JSON 404; the lender API keeps answering problem documents elsewhere."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template

from registry.console import SECURITY_HEADERS
from registry_protocol import __version__

bp = Blueprint("landing", __name__)

WALKTHROUGH_SECTION = "Walk-through: onboard a lender, upload its book, ask about an applicant"


@bp.get("/")
def index() -> Response:
    response = Response(
        render_template(
            "console/landing.html", version=__version__, walkthrough=WALKTHROUGH_SECTION
        ),
        mimetype="text/html",
    )
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
