"""telegram bot: chats, subscriptions, personal watchlists, mutes, feedback, access, updates

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _utc(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, monitor.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bot_chat",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("daily_at", sa.Text(), nullable=True),
        sa.Column("quiet_start", sa.Text(), nullable=True),
        sa.Column("quiet_end", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_table(
        "bot_subscription",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("watchlist", sa.Text(), nullable=False),
        _utc("created_at", nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "watchlist"),
    )
    op.create_table(
        "bot_watchlist",
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("owner", "name"),
    )
    op.create_table(
        "bot_mute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _utc("until", nullable=True),
        _utc("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recipient", "kind", "target", name="uq_bot_mute"),
    )
    with op.batch_alter_table("bot_mute", schema=None) as batch_op:
        batch_op.create_index("ix_bot_mute_target", ["kind", "target"], unique=False)
    op.create_table(
        "bot_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("watchlist", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        _utc("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("story_id", "watchlist", "recipient", name="uq_bot_feedback"),
    )
    with op.batch_alter_table("bot_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bot_feedback_watchlist", ["watchlist", "created_at"], unique=False
        )
    op.create_table(
        "bot_access",
        sa.Column("principal", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _utc("requested_at", nullable=False),
        _utc("decided_at", nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("principal"),
    )
    op.create_table(
        "bot_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _utc("processed_at", nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_table(
        "bot_state",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("bot_state")
    op.drop_table("bot_update")
    op.drop_table("bot_access")
    with op.batch_alter_table("bot_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_feedback_watchlist")
    op.drop_table("bot_feedback")
    with op.batch_alter_table("bot_mute", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_mute_target")
    op.drop_table("bot_mute")
    op.drop_table("bot_watchlist")
    op.drop_table("bot_subscription")
    op.drop_table("bot_chat")
