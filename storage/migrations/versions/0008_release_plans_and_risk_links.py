"""release plans (R12) and risk-letter links (R13)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('release_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('quarter', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('filer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'quarter', name='uq_release_plan')
    )
    with op.batch_alter_table('release_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_plans_unit_id'), ['unit_id'], unique=False)

    op.create_table('risk_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('risk_record_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('target_record_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('linked_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('linked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('risk_record_id', 'target_record_id', name='uq_risk_link')
    )
    with op.batch_alter_table('risk_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_links_risk_record_id'), ['risk_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_links_target_record_id'), ['target_record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_links_target_record_id'))
        batch_op.drop_index(batch_op.f('ix_risk_links_risk_record_id'))
    op.drop_table('risk_links')
    with op.batch_alter_table('release_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_plans_unit_id'))
    op.drop_table('release_plans')
