"""businesses: the tenant, with its senders, playbook versions, dashboard users and API tokens; business_id on
every row that belongs to one; an existing one-business database moves into the ``default`` business (id 1)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:00:00

Nothing is lost: every existing row gets business 1, the lead key becomes (business, channel, phone), an opt-out
becomes business 1's, and the conversations' checkpointer threads (``sms:+1…``) take business 1's prefix
(``b1:sms:+1…``) so a conversation in progress carries on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OWNED = ('leads', 'messages', 'activities', 'capture_events', 'touches', 'llm_calls', 'consent_records')
"""Tables whose rows belong to a business (suppressions too, where business_id joins the key)."""
CHECKPOINT_TABLES = ('checkpoints', 'writes', 'checkpoint_blobs', 'checkpoint_writes')
"""LangGraph's checkpointer tables (SQLite's saver has the first two, Postgres's the first, third and fourth)."""


def upgrade() -> None:
    _refuse_enforced_foreign_keys()
    _tenancy_tables()
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('business_id', sa.Integer(), nullable=False, server_default='1'))
            batch.create_foreign_key(f'fk_{table}_business', 'businesses', ['business_id'], ['id'],
                                     ondelete='CASCADE')
            batch.create_index(f'ix_{table}_business_id', ['business_id'])
        with op.batch_alter_table(table) as batch:  # from now on every insert names its business
            batch.alter_column('business_id', server_default=None, existing_type=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table('leads') as batch:
        batch.drop_constraint('uq_leads_channel_phone', type_='unique')
        batch.create_unique_constraint('uq_leads_business_channel_phone', ['business_id', 'channel', 'phone'])
        batch.add_column(sa.Column('playbook_version_id', sa.Integer(), nullable=True))
    op.drop_index('ix_messages_inbox', table_name='messages')
    op.create_index('ix_messages_inbox', 'messages', ['business_id', 'from_address', 'processed_at'])
    _capture_event_ids_per_business()
    _suppressions_per_business()
    _checkpoint_threads("UPDATE {table} SET thread_id = 'b1:' || thread_id WHERE thread_id NOT LIKE 'b%:%'")
    _check_references()


def _refuse_enforced_foreign_keys() -> None:
    """SQLite's batch mode copies a table, drops the old one and renames the copy; with foreign keys enforced that
    DROP deletes (ON DELETE CASCADE) or clears (SET NULL) every row referring to the table: recreating ``leads`` would
    empty messages, activities, capture events and touches. ``env.py`` turns enforcement off for the migrations'
    connection; refuse to run on one where it is on."""
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite' and bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError("0008 recreates tables on SQLite: it needs PRAGMA foreign_keys=OFF (store/migrations/env.py)")


def _check_references() -> None:
    """SQLite, where they were not enforced meanwhile: every foreign key still finds its row."""
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        dangling = bind.exec_driver_sql('PRAGMA foreign_key_check').all()
        if dangling:
            raise RuntimeError(f"0008 left rows referring to nothing (table, rowid, parent, fk): {dangling[:5]}")


def _tenancy_tables() -> None:
    op.create_table(
        'businesses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('playbook_version_id', sa.Integer(), nullable=True),
        sa.Column('sms_from', sa.String(length=20), nullable=True),
        sa.Column('whatsapp_from', sa.String(length=64), nullable=True),
        sa.Column('messaging_service_sid', sa.String(length=34), nullable=True),
        sa.Column('calendly_key_env', sa.String(length=128), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slug'),
    )
    op.execute("INSERT INTO businesses (id, slug, name, timezone, active, created_at, updated_at) "
               "VALUES (1, 'default', 'Default', 'UTC', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    if op.get_bind().dialect.name == 'postgresql':  # the next business gets id 2, not a clash with the one above
        op.execute("SELECT setval(pg_get_serial_sequence('businesses', 'id'), 1)")
    op.create_table(
        'business_senders',
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('address'),
    )
    op.create_index('ix_business_senders_business_id', 'business_senders', ['business_id'])
    op.create_table(
        'playbook_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('business_id', 'sha256', name='uq_playbook_versions_business_sha256'),
    )
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=200), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=True),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username'),
    )
    op.create_index('ix_users_business_id', 'users', ['business_id'])
    op.create_table(
        'api_tokens',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('business_id', sa.Integer(), nullable=True),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=True),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_api_tokens_business_id', 'api_tokens', ['business_id'])


def _capture_event_ids_per_business() -> None:
    """A capture's ``event_id`` (a form's submission id…) is idempotent per business, not across businesses.
    0001 left its unique constraint unnamed: Postgres named it ``capture_events_event_id_key``; SQLite keeps no name,
    so a naming convention names the reflected one and batch mode can drop it (Alembic's documented way). The name is
    read from the database: after a downgrade it is the one the downgrade gave."""
    (old,) = [c['name'] for c in sa.inspect(op.get_bind()).get_unique_constraints('capture_events')
              if c['column_names'] == ['event_id']]
    convention = {'uq': 'uq_%(table_name)s_%(column_0_name)s'}
    with op.batch_alter_table('capture_events', naming_convention=convention) as batch:
        batch.drop_constraint(old or 'uq_capture_events_event_id', type_='unique')
        batch.create_unique_constraint('uq_capture_events_business_event', ['business_id', 'event_id'])


def _suppressions_per_business() -> None:
    """Re-key the opt-out list by (business, phone hash): a new table, the rows copied into business 1."""
    op.create_table(
        'suppressions_per_business',
        sa.Column('business_id', sa.Integer(), nullable=False),
        sa.Column('phone_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('keyword', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['business_id'], ['businesses.id'], name='fk_suppressions_business',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('business_id', 'phone_hash', name='pk_suppressions'),
    )
    op.execute("INSERT INTO suppressions_per_business (business_id, phone_hash, created_at, keyword) "
               "SELECT 1, phone_hash, created_at, keyword FROM suppressions")
    op.drop_table('suppressions')
    op.rename_table('suppressions_per_business', 'suppressions')


def _checkpoint_threads(statement: str) -> None:
    """Run ``statement`` on each of the checkpointer's tables (``{table}`` in it), those that exist: they do once a
    process has run ``saver.setup()``."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in CHECKPOINT_TABLES:
        if table in existing:
            op.execute(statement.format(table=table))


def downgrade() -> None:
    """Back to one business: only business 1's rows can be kept (others would break the one-business keys)."""
    _refuse_enforced_foreign_keys()
    _checkpoint_threads("UPDATE {table} SET thread_id = substr(thread_id, 4) WHERE thread_id LIKE 'b1:%'")
    _checkpoint_threads("DELETE FROM {table} WHERE thread_id LIKE 'b%:%'")  # the other businesses' conversations
    for table in ('suppressions', *reversed(OWNED)):
        if table != 'leads':
            op.execute(f"DELETE FROM {table} WHERE business_id != 1")
    op.execute("DELETE FROM leads WHERE business_id != 1")
    with op.batch_alter_table('suppressions', recreate='always') as batch:
        batch.drop_constraint('fk_suppressions_business', type_='foreignkey')
        batch.drop_constraint('pk_suppressions', type_='primary')
        batch.drop_column('business_id')
        batch.create_primary_key('suppressions_pkey', ['phone_hash'])
    op.drop_index('ix_messages_inbox', table_name='messages')
    op.create_index('ix_messages_inbox', 'messages', ['from_address', 'processed_at'])
    with op.batch_alter_table('capture_events') as batch:
        batch.drop_constraint('uq_capture_events_business_event', type_='unique')
        batch.create_unique_constraint('capture_events_event_id_key', ['event_id'])  # Postgres's name for 0001's
    with op.batch_alter_table('leads') as batch:
        batch.drop_column('playbook_version_id')
        batch.drop_constraint('uq_leads_business_channel_phone', type_='unique')
        batch.create_unique_constraint('uq_leads_channel_phone', ['channel', 'phone'])
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f'ix_{table}_business_id')
            batch.drop_constraint(f'fk_{table}_business', type_='foreignkey')
            batch.drop_column('business_id')
    for table in ('api_tokens', 'users', 'playbook_versions', 'business_senders', 'businesses'):
        op.drop_table(table)
    _check_references()
