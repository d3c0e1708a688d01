"""The debt-sharing registry service. `gunicorn 'registry:create_app()'` serves it."""

from registry.app import create_app

__all__ = ["create_app"]
