"""committee roles: consolidating agency, role labels; agency escalate; schedule signed_file;
target per_subject_kind

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

`committee.consolidating_id` is the agency that receives and consolidates the reports. Until
now the importer stored that agency in `standing_office_id`, so existing rows get it from
there; `standing_office_id` keeps its value (in files written before the two roles were told
apart, one agency was both) until the plan is imported again, which sets it from
`committee.standing_office` only.

On SQLite nothing here rebuilds a table (batch "recreate"): the bot's connections turn
foreign keys on, and dropping the old `committee` or `agency` table while copying it would
cascade to agencies, plans, obligations and members. Every column is added (and, going
down, dropped) with a plain ALTER TABLE instead.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite adds a column with its foreign key in one statement (no ADD CONSTRAINT);
        # SQLAlchemy reads no name and no ON DELETE action back from such an inline
        # REFERENCES, so the model's foreign key has no action either.
        op.execute(
            "ALTER TABLE committee ADD COLUMN consolidating_id INTEGER "
            "CONSTRAINT fk_committee_consolidating_id_agency REFERENCES agency (id)"
        )
    else:
        op.add_column('committee', sa.Column('consolidating_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f('fk_committee_consolidating_id_agency'), 'committee', 'agency',
            ['consolidating_id'], ['id'])
    # SQLite's ADD COLUMN takes a literal default only (not an expression in parentheses).
    op.add_column('committee', sa.Column('role_labels', sa.JSON(), server_default='{}',
                                         nullable=False))
    op.add_column('agency', sa.Column(
        'escalate', sa.Boolean(),
        server_default=sa.text('1') if sqlite else sa.text('true'), nullable=False))
    op.add_column('schedule', sa.Column('signed_file', sa.String(length=10), nullable=True))
    op.add_column('target', sa.Column('per_subject_kind', sa.String(length=40), nullable=True))

    # The importer stored the agency that receives the reports in standing_office_id.
    op.execute("UPDATE committee SET consolidating_id = standing_office_id "
               "WHERE consolidating_id IS NULL")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Whatever a newer import said, the old code reads the receiving agency from
    # standing_office_id.
    op.execute("UPDATE committee SET standing_office_id = consolidating_id "
               "WHERE consolidating_id IS NOT NULL")
    op.drop_column('target', 'per_subject_kind')
    op.drop_column('schedule', 'signed_file')
    op.drop_column('agency', 'escalate')
    op.drop_column('committee', 'role_labels')
    if not sqlite:  # SQLite (3.35+) drops the column's foreign key with the column
        op.drop_constraint(op.f('fk_committee_consolidating_id_agency'), 'committee',
                           type_='foreignkey')
    op.drop_column('committee', 'consolidating_id')
