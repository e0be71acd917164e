"""conference previews (what the website channels were told, issue 9 B1)

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-02 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conference_previews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('starts_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('venue', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conference_previews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conference_previews_record_id'), ['record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conference_previews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conference_previews_record_id'))

    op.drop_table('conference_previews')
