"""peers: partner hubs, their confirmed keys, the outbox of sealed packages, request nonces

Revision ID: 0005_peers
Revises: 0004_compliance_response
Create Date: 2026-12-06 19:20:00

Hand-written. Issue 14: each party runs its own hub. A peer is a partner hub
(its base URL, the organisations that live on it, the signing key fingerprints
confirmed by telephone); the outbox holds each sealed package queued for a peer
in the same transaction as the change it carries; the nonces of accepted signed
requests let a replayed request be refused.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_peers"
down_revision = "0004_compliance_response"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("last_contact_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
        sa.UniqueConstraint("name", name=op.f("uq_peers_name")),
    )
    op.create_table(
        "peer_organisations",
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("org_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_peer_organisations_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("peer_id", "org_code", name=op.f("pk_peer_organisations")),
    )
    op.create_index(
        op.f("ix_peer_organisations_org_code"), "peer_organisations", ["org_code"], unique=False
    )
    op.create_table(
        "peer_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("org_code", sa.String(length=16), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["peer_id"], ["peers.id"], name=op.f("fk_peer_keys_peer_id_peers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_keys")),
        sa.UniqueConstraint("peer_id", "fingerprint", name=op.f("uq_peer_keys_peer_id")),
    )
    op.create_index(op.f("ix_peer_keys_fingerprint"), "peer_keys", ["fingerprint"], unique=False)
    op.create_table(
        "peer_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("package_json", sa.Text(), nullable=False),
        sa.Column("exporter_org", sa.String(length=16), nullable=False),
        sa.Column("recipient_org", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["exchange_id"], ["exchanges.id"], name=op.f("fk_peer_outbox_exchange_id_exchanges")
        ),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["peers.id"], name=op.f("fk_peer_outbox_peer_id_peers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_outbox")),
        sa.UniqueConstraint("package_sha256", name=op.f("uq_peer_outbox_package_sha256")),
    )
    op.create_index("ix_peer_outbox_due", "peer_outbox", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_peer_outbox_peer_id"), "peer_outbox", ["peer_id"], unique=False)
    op.create_index(
        op.f("ix_peer_outbox_exchange_id"), "peer_outbox", ["exchange_id"], unique=False
    )
    op.create_table(
        "peer_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_nonces")),
        sa.UniqueConstraint("fingerprint", "nonce", name=op.f("uq_peer_nonces_fingerprint")),
    )
    op.create_index(op.f("ix_peer_nonces_seen_at"), "peer_nonces", ["seen_at"], unique=False)


def downgrade():
    op.drop_table("peer_nonces")
    op.drop_table("peer_outbox")
    op.drop_table("peer_keys")
    op.drop_table("peer_organisations")
    op.drop_table("peers")
