"""route state, outcome times and the work queue's sort keys on leads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 17:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_TIMES = ("assigned_at", "first_response_due_at", "last_activity_at", "qualified_at", "booked_at")


def upgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.add_column(sa.Column('dispatcher', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('current_queue', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('taken_over_by', sa.String(length=200), nullable=True))
        for name in _TIMES:
            batch.add_column(sa.Column(name, store.models.UTCDateTime(timezone=True), nullable=True))
        batch.create_index('ix_leads_created', ['created_at'])
        batch.create_index('ix_leads_queue', ['score_total', 'last_activity_at'])
    op.execute("UPDATE leads SET last_activity_at = updated_at, current_queue = CASE"
               " WHEN status IN ('new', 'contacted') THEN 'bot' WHEN status = 'qualified' THEN 'reps'"
               " WHEN status = 'dormant' THEN 'nurture' ELSE 'closed' END")


def downgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.drop_index('ix_leads_queue')
        batch.drop_index('ix_leads_created')
        for name in ("dispatcher", "current_queue", "taken_over_by", *_TIMES):
            batch.drop_column(name)
