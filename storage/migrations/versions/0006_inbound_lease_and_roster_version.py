"""inbound lease columns and the roster version row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:05:00

`inbound_messages.claimed_by` / `lease_until`: which instance is handling a stored message and
until when; after that any instance's sweep (or a WeCom retry) takes it over (issue 8.1).

`roster_version`: one row bumped by triggers on every INSERT, UPDATE or DELETE of `people` and
`units`, in the writing transaction, whoever writes (a handler, `roster import`, another
instance, a hand-written SQL fix): the sender caches compare it on every message (issue 11.1).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROSTER_TABLES = ("people", "units")
BUMP = "UPDATE roster_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        'roster_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO roster_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_roster_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in ROSTER_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_roster_version "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_roster_version()"
            )
    else:
        for table in ROSTER_TABLES:
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_{action.lower()}_bump_roster_version "
                    f"AFTER {action} ON {table} BEGIN {BUMP}; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ROSTER_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_roster_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_roster_version()")
    else:
        for table in ROSTER_TABLES:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{action}_bump_roster_version")
    op.drop_table('roster_version')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
