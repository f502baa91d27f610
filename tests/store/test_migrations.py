"""The migrations build exactly the schema the table classes describe, on both backends."""

from __future__ import annotations

from pathlib import Path

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
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -32768
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10000
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 * 2**20
    database.dispose()


def test_the_wal_is_checkpointed_and_cut_back(sqlite_url: str, tmp_path: Path) -> None:
    """Writes past the checkpoint interval land in the database file; the WAL stays bounded."""
    database = Database(sqlite_url)
    with database.writing() as conn:
        conn.exec_driver_sql("CREATE TABLE blob_rows (id INTEGER PRIMARY KEY, body BLOB)")
    wal_sizes = []
    for _ in range(100):  # 100 x 1 MiB of pages: ten checkpoint intervals
        with database.writing() as conn:
            conn.exec_driver_sql(
                "INSERT INTO blob_rows (body) SELECT randomblob(4000) FROM "
                "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 256) "
                "SELECT i FROM n)"
            )
        wal_sizes.append((tmp_path / "monitor.db-wal").stat().st_size)
    # checkpointed while open: the database file holds most of the 100 MiB already
    assert (tmp_path / "monitor.db").stat().st_size > 50 * 2**20
    # about 10,000 pages of WAL between checkpoints, never the whole history
    assert 30 * 2**20 < max(wal_sizes) < 48 * 2**20, max(wal_sizes)
    database.dispose()
