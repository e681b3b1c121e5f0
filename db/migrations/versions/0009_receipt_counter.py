"""receipt numbers without gaps: a counter per year

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Receipt numbers were BC-<year>-<submission id>, and every draft takes an id, so the numbers a
committee saw had gaps. From now on they come from `receipt_counter`, one row per year, which
starts after the highest number already given that year.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_RECEIPT = re.compile(r"^BC-(\d{4})-(\d+)$")


def upgrade() -> None:
    counter = op.create_table(
        "receipt_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_receipt_counter")),
    )
    last: dict[int, int] = {}
    for (receipt,) in op.get_bind().execute(
            sa.text("SELECT receipt_no FROM submission WHERE receipt_no IS NOT NULL")):
        found = _RECEIPT.match(receipt or "")
        if found:
            year, number = int(found.group(1)), int(found.group(2))
            last[year] = max(last.get(year, 0), number)
    if last:
        op.bulk_insert(counter, [{"year": y, "last": n} for y, n in sorted(last.items())])


def downgrade() -> None:
    op.drop_table("receipt_counter")
