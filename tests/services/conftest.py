"""Tests of the services, the `registry` CLI and the storage layer underneath the HTTP
layers: transactions and locking, migrations, token rotation, configuration and logging.

The shared fixtures are in tests/conftest.py. CLI commands open their own engine, so their
tests are marked `committed` (real commits, the database emptied afterwards).
"""
