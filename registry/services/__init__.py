"""Domain services: each takes a SQLAlchemy `Session` and plain values, and imports no Flask."""
