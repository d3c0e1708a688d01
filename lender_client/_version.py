"""The lender client's version, sent in its User-Agent: the project's one version number."""

from registry_protocol._version import __version__

__all__ = ["__version__"]
