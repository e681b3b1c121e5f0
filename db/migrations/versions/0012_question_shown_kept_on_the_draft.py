"""the question shown to each editor, kept on the draft

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

member.shown_field moves to submission.shown_to ({"member id": field code}): every answer
writes the draft's row anyway, so the question shown no longer costs an UPDATE of the
member per answer (issue 16). A member's value moves to the draft they are answering.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

member = sa.table('member', sa.column('id', sa.Integer), sa.column('shown_field', sa.String),
                  sa.column('active_submission_id', sa.Integer))
submission = sa.table('submission', sa.column('id', sa.Integer),
                      sa.column('shown_to', sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown_to', sa.JSON(), nullable=True))
    bind = op.get_bind()
    shown: dict[int, dict[str, str]] = {}
    for member_id, submission_id, field in bind.execute(
            sa.select(member.c.id, member.c.active_submission_id, member.c.shown_field)
            .where(member.c.active_submission_id.is_not(None),
                   member.c.shown_field.is_not(None))):
        shown.setdefault(submission_id, {})[str(member_id)] = field
    for submission_id, value in shown.items():
        bind.execute(submission.update().where(submission.c.id == submission_id)
                     .values(shown_to=value))
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('shown_field')


def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown_field', sa.String(length=40), nullable=True))
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('shown_to')
