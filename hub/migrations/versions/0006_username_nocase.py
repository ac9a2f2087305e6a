"""Usernames are unique whatever their case

Revision ID: 0006_username_nocase
Revises: 0005_peers
Create Date: 2026-12-06 21:05:00

Hand-written. `KM.Officer` could be made beside `km.officer`: two accounts that
read the same and shared one lockout counter. The hub now stores usernames
lower-cased (hub.operations.accounts.canonical_username); this index makes a
second spelling impossible even for a row written by hand. Existing rows are
lower-cased first; when two of them differ only by case the upgrade stops and
names them, since merging accounts is a decision for an administrator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_username_nocase"
down_revision = "0005_peers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    clashes = bind.execute(
        sa.text(
            "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1"
        )
    ).scalars().all()
    if clashes:
        raise RuntimeError(
            "usernames that differ only by case must be merged or renamed first: "
            + ", ".join(sorted(clashes))
        )
    op.execute("UPDATE users SET username = lower(username) WHERE username <> lower(username)")
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_username_lower", table_name="users")
