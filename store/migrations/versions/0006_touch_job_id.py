"""touches.job_id: the RQ job (a batch of touches due in the same second) that holds a touch

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('touches') as batch:
        batch.add_column(sa.Column('job_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('touches') as batch:
        batch.drop_column('job_id')
