"""witness: peers' checkpoint keys, what we cosigned of theirs, their cosignatures of ours

Revision ID: 0008_witness
Revises: 0007_case_reference_per_org
Create Date: 2026-12-07 14:30:00

Hand-written. Issue 14, witnessing (C2SP tlog-witness / tlog-cosignature): each hub
cosigns the checkpoints of the agreement logs it shares with a peer, after checking
consistency with the newest one it cosigned, and the log's hub keeps the
cosignatures. Refusals either way are kept for the administrators.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_witness"
down_revision = "0007_case_reference_per_org"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "peer_checkpoint_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.Column("vkey", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_peer_checkpoint_keys_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_checkpoint_keys")),
        sa.UniqueConstraint("peer_id", "fingerprint", name=op.f("uq_peer_checkpoint_keys_peer_id")),
    )
    op.create_index(
        op.f("ix_peer_checkpoint_keys_peer_id"), "peer_checkpoint_keys", ["peer_id"], unique=False
    )
    op.create_table(
        "witnessed_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_witnessed_checkpoints_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witnessed_checkpoints")),
        sa.UniqueConstraint("peer_id", "origin", name=op.f("uq_witnessed_checkpoints_peer_id")),
    )
    op.create_table(
        "cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("key_name", sa.String(length=64), nullable=False),
        sa.Column("cosigned_at", sa.DateTime(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_cosignatures_checkpoint_id_audit_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["log_id"], ["audit_logs.id"], name=op.f("fk_cosignatures_log_id_audit_logs")
        ),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_cosignatures_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cosignatures")),
        sa.UniqueConstraint("checkpoint_id", "peer_id", name=op.f("uq_cosignatures_checkpoint_id")),
    )
    op.create_index(op.f("ix_cosignatures_log_id"), "cosignatures", ["log_id"], unique=False)
    op.create_index(op.f("ix_cosignatures_peer_id"), "cosignatures", ["peer_id"], unique=False)
    op.create_table(
        "witness_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=128), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("old_size", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_witness_refusals_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witness_refusals")),
    )
    op.create_index("ix_witness_refusals_peer_at", "witness_refusals", ["peer_id", "at"])


def downgrade():
    op.drop_table("witness_refusals")
    op.drop_table("cosignatures")
    op.drop_table("witnessed_checkpoints")
    op.drop_table("peer_checkpoint_keys")
