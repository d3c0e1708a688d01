"""The disclosure report as a standalone HTML document (its stylesheet inline, print-ready),
for `registry borrowers disclose --format html`: the same body as the console's page."""

from __future__ import annotations

from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from registry.console.formatting import money, utc
from registry.services.disclosure import Disclosure

LEGAL_BASIS = (
    "征信业管理条例 (Regulation on the Administration of the Credit Reporting Industry) art. 17: "
    "a person may see their own record; art. 25: a disputed record is marked and answered "
    "within 20 days. US FCRA §609: disclosure to the consumer, including who asked; §611: "
    "disputes reinvestigated and answered within a deadline."
)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("registry.console", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    environment.filters.update(utc=utc, money=money)
    return environment


def render_document(disclosure: Disclosure) -> str:
    stylesheet = (
        files("registry.console").joinpath("static/console/obligations.css").read_text("utf-8")
    )
    template = _environment().get_template("console/disclosure_document.html")
    # Our own packaged stylesheet, never anyone's input: it goes into <style> as it is.
    inline = Markup(stylesheet)  # noqa: S704
    return template.render(d=disclosure, legal_basis=LEGAL_BASIS, stylesheet=inline)
