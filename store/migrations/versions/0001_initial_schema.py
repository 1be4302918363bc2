"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 15:00:34.010978
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('profile_name', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('score_total', sa.Integer(), nullable=True),
    sa.Column('score_fit', sa.Integer(), nullable=True),
    sa.Column('score_intent', sa.Integer(), nullable=True),
    sa.Column('score_engagement', sa.Integer(), nullable=True),
    sa.Column('score_breakdown', sa.JSON(), nullable=True),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('estimated_value_usd', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('lost_reason', sa.String(length=32), nullable=True),
    sa.Column('business_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_inbound_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'phone', name='uq_leads_channel_phone')
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_status', ['status'], unique=False)

    op.create_table('suppressions',
    sa.Column('phone_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('keyword', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('phone_hash')
    )
    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_lead', ['lead_id', 'id'], unique=False)

    op.create_table('capture_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('received_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('service_type', sa.String(length=64), nullable=True),
    sa.Column('urgency', sa.String(length=64), nullable=True),
    sa.Column('contact_method', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('capture_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_events_lead_id'), ['lead_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('to_address', sa.String(length=64), nullable=False),
    sa.Column('from_address', sa.String(length=64), nullable=True),
    sa.Column('messaging_service_sid', sa.String(length=34), nullable=True),
    sa.Column('sender_name', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('media', sa.JSON(), nullable=True),
    sa.Column('content_sid', sa.String(length=34), nullable=True),
    sa.Column('content_variables', sa.JSON(), nullable=True),
    sa.Column('twilio_sid', sa.String(length=34), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=128), nullable=True),
    sa.Column('outbox_state', sa.String(length=12), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('processed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key'),
    sa.UniqueConstraint('twilio_sid')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_inbox', ['from_address', 'processed_at'], unique=False)
        batch_op.create_index('ix_messages_lead', ['lead_id', 'id'], unique=False)
        batch_op.create_index('ix_messages_outbox', ['outbox_state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_outbox')
        batch_op.drop_index('ix_messages_lead')
        batch_op.drop_index('ix_messages_inbox')

    op.drop_table('messages')
    with op.batch_alter_table('capture_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_events_lead_id'))

    op.drop_table('capture_events')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_lead')

    op.drop_table('activities')
    op.drop_table('suppressions')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_status')

    op.drop_table('leads')
