"""What the whole app does for transport security: HSTS in production, and which reverse
proxies' forwarded headers to believe (none unless configured)."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from registry.config import Settings

# A year, the value browsers' preload lists ask for; subdomains too (the registry's host
# serves nothing over plain HTTP).
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        # Only the last N hops are believed: a client cannot choose the address the audit log
        # records by sending its own X-Forwarded-For.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )
    if settings.production:

        @app.after_request
        def _strict_transport_security(response: Response) -> Response:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
            return response
