"""The benchmark harness: `make bench` (or `python -m tests.bench.run`).

It builds a throwaway PostgreSQL database with a million loans, starts the real server under
gunicorn on a loopback port, and measures inquiries and uploads over HTTP. Nothing here is
collected by pytest (no `test_*` modules). See docs/benchmarks.md.
"""
