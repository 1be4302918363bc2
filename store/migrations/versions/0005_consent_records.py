"""consent_records: append-only consent and revocation events per number; outbox_state fits awaiting_approval

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'consent_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('event', sa.String(length=8), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_consent_phone', 'consent_records', ['phone', 'id'])
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('outbox_state', type_=sa.String(length=24), existing_type=sa.String(length=12))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('outbox_state', type_=sa.String(length=12), existing_type=sa.String(length=24))
    op.drop_index('ix_consent_phone', table_name='consent_records')
    op.drop_table('consent_records')
