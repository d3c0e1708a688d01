"""Tests of how the registry is delivered and laid out: the Dockerfile and docker-compose.yml
(read, never run: no Docker engine here), the import map of docs/architecture.md, the SDK's
wheel in an empty virtual environment, and the README's walk-through run as printed. Each
module names the repository's top folder itself (ROOT): these tests read files, not fixtures.
"""
