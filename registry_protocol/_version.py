"""The project's one version number: both distributions (the registry and the SDK) read it
at build time, and the SDK sends it in its User-Agent. CHANGELOG.md says what each brought."""

__version__ = "0.2.0"
