"""audit tables refuse UPDATE, DELETE and TRUNCATE (PostgreSQL)

Revision ID: 0002_audit
Revises: 0001
Create Date: 2026-11-26 11:20:00

Hand-written. The audit entries, the stored subtree hashes and the signed
checkpoints are append-only: even the application's own connection cannot
rewrite them. The log heads (audit_logs) stay updatable: every append moves
the head's size and root. On SQLite this migration does nothing (a file's
owner can rewrite it anyway); `hub audit verify` is what detects a rewrite
there, and on PostgreSQL too if a superuser disables the triggers.
"""
from alembic import op


revision = "0002_audit"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("audit_entries", "audit_nodes", "audit_checkpoints")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hub_audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    # Statement-level: refuses even an UPDATE or DELETE that matches no row.
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS hub_audit_append_only()")
