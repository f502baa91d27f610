"""Schema migrations: upgrade to the newest revision, and refuse an unknown schema.

Alembic scripts live in ``monitor/store/migrations/versions``. ``upgrade`` is what
``monitor db upgrade`` and start-up call; ``check_schema`` refuses to run against a
database whose revision this code does not know (written by a newer monitor).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from monitor.errors import SchemaError
from monitor.store.database import Database

_SCRIPTS = Path(__file__).with_name("migrations")
_PG_LOCK_ID = 0x6D6F6E6D  # advisory lock held while migrating ("monm"; keys differ per use)


def _alembic_config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(_SCRIPTS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(db: Database) -> str | None:
    """Return the database's revision; raise SchemaError if this code does not know it."""
    rev = current_revision(db)
    if rev is None:
        return None
    script = ScriptDirectory(str(_SCRIPTS))
    known = {s.revision for s in script.walk_revisions()}
    if rev not in known:
        raise SchemaError(
            f"the database schema is at revision {rev}, which this version of monitor does not "
            f"know (newest known: {head_revision()}); it was written by a newer monitor: "
            "upgrade monitor, or restore a backup made for this version"
        )
    return rev


def upgrade(db: Database, revision: str = "head") -> str:
    """Bring the schema to ``revision``; safe to run from several processes at once."""
    check_schema(db)
    with db.engine.connect().execution_options(write=True) as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_ID})
            conn.commit()
        try:
            command.upgrade(_alembic_config(conn), revision)
            conn.commit()
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_ID})
                conn.commit()
    return head_revision()


def is_current(db: Database) -> bool:
    return check_schema(db) == head_revision()
