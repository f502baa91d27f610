"""The migrations build exactly the schema the table classes describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from monitor.errors import SchemaError
from monitor.store.database import Database
from monitor.store.migrate import check_schema, current_revision, head_revision, upgrade
from monitor.store.tables import metadata


def test_upgrade_creates_the_model_schema(db: Database) -> None:
    assert current_revision(db) == head_revision()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    assert upgrade(db) == head_revision()
    assert upgrade(db) == head_revision()


def test_unknown_schema_revision_is_refused(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(SchemaError, match="newer monitor"):
        check_schema(db)
    with pytest.raises(SchemaError):
        upgrade(db)


def test_sqlite_uses_wal_and_busy_timeout(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.reading() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    database.dispose()
