"""Tests of the lender API (`/v1/...`, `/healthz`, `/openapi.json`) through Flask's test
client: request parsing, authentication, problem documents, and the answers' figures.

The shared fixtures (`app`, `client`, `new_lender`, `token_key`, `live_server`, ...) are in
tests/conftest.py; each database test runs on SQLite and PostgreSQL inside a rolled-back
transaction unless it is marked `committed`.
"""
