"""an outbox item's person is its message's

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

outbox_item.member_id repeated outbox.member_id (every item is written with its message's
person) and its foreign key cost PostgreSQL a check and a row lock per item: at a
province's sweep, 200,000 of them (issue 16). Readers join the message instead, through
its member index.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_item_member_id_member', type_='foreignkey')
        batch_op.drop_column('member_id')


def downgrade() -> None:
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_outbox_item_member_id_member', 'member',
                                    ['member_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE outbox_item SET member_id = (SELECT outbox.member_id FROM outbox "
               "WHERE outbox.id = outbox_item.outbox_id)")
