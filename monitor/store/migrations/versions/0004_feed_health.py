"""feed health: incidents, adaptive poll intervals, recent items of a feed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("opened_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feed_incident", schema=None) as batch_op:
        batch_op.create_index("ix_feed_incident_open", ["closed_at", "feed_id"], unique=False)

    op.create_table(
        "feed_cadence",
        sa.Column("feed_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=False),
        sa.Column("missed_polls", sa.Integer(), nullable=False),
        sa.Column("updated_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feed.id"]),
        sa.PrimaryKeyConstraint("feed_id"),
    )

    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_feed_fetched", ["feed_id", "fetched_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_feed_fetched")
    op.drop_table("feed_cadence")
    with op.batch_alter_table("feed_incident", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_incident_open")
    op.drop_table("feed_incident")
