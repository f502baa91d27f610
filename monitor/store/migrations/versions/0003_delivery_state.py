"""delivery state: digests and holds, claim owners, story updates, recipient state, notices

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "update_due_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_update_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("updates", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_delivery_recipient", ["recipient", "state"], unique=False)
        batch_op.create_index("ix_delivery_claimed", ["claimed_until"], unique=False)
        batch_op.create_index("ix_delivery_update_due", ["update_due_at"], unique=False)

    op.create_table(
        "recipient_state",
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("stops", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("recipient"),
    )

    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("sent_at", monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_ref", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "recipient", name="uq_notice_key_recipient"),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index("ix_notice_due", ["state", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_due")
    op.drop_table("notice")
    op.drop_table("recipient_state")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_update_due")
        batch_op.drop_index("ix_delivery_claimed")
        batch_op.drop_index("ix_delivery_recipient")
        batch_op.drop_column("updates")
        batch_op.drop_column("last_update_at")
        batch_op.drop_column("update_due_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("hold")
