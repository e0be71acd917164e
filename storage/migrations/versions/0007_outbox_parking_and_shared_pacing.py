"""outbox parking (dead letter) and pacing shared by every instance

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 06:30:00

Rows the old worker marked `failed` become `parked` (re-driven by `bot.py outbox retry`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('park_reason', sa.Text(), nullable=True))
    op.execute(
        "UPDATE outbox SET status = 'parked', parked_at = next_attempt_at, "
        "park_reason = '旧版本标记为发送失败' WHERE status = 'failed'"
    )
    op.create_table('outbox_pacing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox_pacing', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pacing_key_at', ['key', 'at'], unique=False)
    op.create_table('outbox_budget',
    sa.Column('day', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )


def downgrade() -> None:
    op.drop_table('outbox_budget')
    with op.batch_alter_table('outbox_pacing', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pacing_key_at')
    op.drop_table('outbox_pacing')
    op.execute("UPDATE outbox SET status = 'failed' WHERE status = 'parked'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('park_reason')
        batch_op.drop_column('parked_at')
