"""records: late filings, conference end times, withdraw reasons, pending speaker questions,
incident close/withdraw/re-grade (issue 9 A1-A6)

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ends_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("withdraw_reason", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("pending_held", sa.JSON(), nullable=True))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state_reason", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_column("late")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("state_reason")
    with op.batch_alter_table("conferences", schema=None) as batch_op:
        batch_op.drop_column("pending_held")
        batch_op.drop_column("withdraw_reason")
        batch_op.drop_column("late")
        batch_op.drop_column("ends_at")
