"""cadence: touches, lead clock and stop reason

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 15:10:01.654005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('touches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('attempt_number', sa.Integer(), nullable=False),
    sa.Column('due_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_type', sa.String(length=24), nullable=True),
    sa.Column('result', sa.String(length=24), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('enqueued_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lead_id', 'step', name='uq_touches_lead_step')
    )
    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.create_index('ix_touches_owed', ['result', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('capture_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duplicate', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('stop_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('enrolled_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('call_alert_at', store.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_after', store.models.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('send_after')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('call_alert_at')
        batch_op.drop_column('enrolled_at')
        batch_op.drop_column('stop_reason')
        batch_op.drop_column('timezone')

    with op.batch_alter_table('capture_events', schema=None) as batch_op:
        batch_op.drop_column('duplicate')

    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.drop_index('ix_touches_owed')

    op.drop_table('touches')
