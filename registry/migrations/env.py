"""Alembic environment: runs online against the URL given by `registry.migrations`."""

from __future__ import annotations

from alembic import context

from registry.db import make_engine
from registry.models import Base

config = context.config
database_url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
if not database_url:
    raise RuntimeError("no database URL given to the migrations")

engine = make_engine(database_url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things: let Alembic copy-and-move tables there.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
finally:
    engine.dispose()
