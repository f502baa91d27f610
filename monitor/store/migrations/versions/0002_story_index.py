"""story index: candidate keys, window fingerprints, document frequencies, story links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_key",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "at", "item_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("story_key", schema=None) as batch_op:
        batch_op.create_index("ix_story_key_at", ["at"], unique=False)

    op.create_table(
        "story_fingerprint",
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("has_text", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("story_fingerprint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_fingerprint_at"), ["at"], unique=False)

    op.create_table(
        "story_term",
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "story_link",
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("linked_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["story_id"], ["story.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )


def downgrade() -> None:
    op.drop_table("story_link")
    op.drop_table("story_term")
    with op.batch_alter_table("story_fingerprint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_fingerprint_at"))

    op.drop_table("story_fingerprint")
    with op.batch_alter_table("story_key", schema=None) as batch_op:
        batch_op.drop_index("ix_story_key_at")

    op.drop_table("story_key")
