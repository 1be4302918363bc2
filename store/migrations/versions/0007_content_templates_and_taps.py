"""content_templates: WhatsApp templates with buttons created at Twilio, by definition hash; messages.tapped: the
button or list item an inbound message tapped

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'content_templates',
        sa.Column('definition_hash', sa.String(length=64), nullable=False),
        sa.Column('content_sid', sa.String(length=34), nullable=False),
        sa.Column('friendly_name', sa.String(length=200), nullable=False),
        sa.Column('question_id', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('definition_hash'),
    )
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('tapped', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('tapped')
    op.drop_table('content_templates')
