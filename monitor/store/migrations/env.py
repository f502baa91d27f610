"""Alembic environment: runs migrations on the connection monitor hands it.

Invoked only through monitor.store.migrate (``monitor db upgrade`` or start-up);
it never reads alembic.ini or a URL from the environment.
"""

from __future__ import annotations

from alembic import context

from monitor.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
