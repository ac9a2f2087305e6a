"""Case references are unique per owning organisation, not hub-wide

Revision ID: 0007_case_reference_per_org
Revises: 0006_username_nocase
Create Date: 2026-12-07 14:30:00

Hand-written. A hub-wide unique reference made "This reference is already used."
answer for a reference another organisation had chosen: an existence oracle for
its cases. Each organisation numbers its own cases, so the reference is unique
within the owner (uq_cases_owner_reference) and every lookup by reference is
scoped to what the actor sees (hub.operations.scope).

On SQLite the unique constraint lives in the table's definition, so batch mode
rebuilds `cases`. The rebuild keeps the rows' ids, so the tables that point at
a case (organisations, agreements, seizures, suspects, exchanges) still do:
env.py migrates SQLite with foreign keys off (dropping the old table would
otherwise delete its rows under them), and this revision runs
`PRAGMA foreign_key_check` before it ends. Indexes on `cases` are carried by the
rebuild; no trigger is defined on it (0002's are PostgreSQL's, on the audit tables).

Downgrading brings the hub-wide constraint back; it stops and names the
references that two organisations now share, since renaming a case is a
decision for its owner.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_case_reference_per_org"
down_revision = "0006_username_nocase"
branch_labels = None
depends_on = None


#: The rebuild copies `cases` alone: reflecting the tables its foreign keys name would
#: read `users`, whose expression index (0006) SQLAlchemy cannot reflect.
REFLECT = {"resolve_fks": False}


def _check_foreign_keys() -> None:
    """SQLite migrates with foreign keys off (env.py): nothing may point nowhere after."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"rows point at missing rows after rebuilding cases: {broken[:5]}")


def upgrade() -> None:
    with op.batch_alter_table("cases", reflect_kwargs=REFLECT) as batch_op:
        batch_op.drop_constraint("uq_cases_reference", type_="unique")
        batch_op.create_unique_constraint(
            "uq_cases_owner_reference", ["owner_organisation_id", "reference"]
        )
    _check_foreign_keys()


def downgrade() -> None:
    shared = (
        op.get_bind()
        .execute(sa.text("SELECT reference FROM cases GROUP BY reference HAVING count(*) > 1"))
        .scalars()
        .all()
    )
    if shared:
        raise RuntimeError(
            "case references used by more than one organisation must be renamed first: "
            + ", ".join(sorted(shared))
        )
    with op.batch_alter_table("cases", reflect_kwargs=REFLECT) as batch_op:
        batch_op.drop_constraint("uq_cases_owner_reference", type_="unique")
        batch_op.create_unique_constraint("uq_cases_reference", ["reference"])
    _check_foreign_keys()
