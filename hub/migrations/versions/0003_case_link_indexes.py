"""case link tables indexed (link, case_id); every case's owner among its organisations

Revision ID: 0003_case_links
Revises: 0002_audit
Create Date: 2026-11-26 13:50:00

Hand-written. A case list filtered by agreement or partner that matches few
of the user's cases is read from the link tables: the cases under an
agreement (or involving a partner) joined to the cases involving the user's
organisation, both read in case order from these indexes alone (a merge join
on PostgreSQL, index probes on SQLite). They replace the single-column
indexes on agreement_id and organisation_id, of which they are extensions.

That join counts the owner as involved: cases.create_case and update_case
always keep the owner among a case's organisations; rows written otherwise
before this revision are completed here.
"""

from alembic import op

revision = "0003_case_links"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "INSERT INTO case_organisations (case_id, organisation_id) "
        "SELECT cases.id, cases.owner_organisation_id FROM cases "
        "WHERE NOT EXISTS (SELECT 1 FROM case_organisations AS co "
        "WHERE co.case_id = cases.id AND co.organisation_id = cases.owner_organisation_id)"
    )
    with op.batch_alter_table("case_agreements") as batch_op:
        batch_op.create_index("ix_case_agreements_agreement_case", ["agreement_id", "case_id"])
        batch_op.drop_index("ix_case_agreements_agreement_id")
    with op.batch_alter_table("case_organisations") as batch_op:
        batch_op.create_index(
            "ix_case_organisations_organisation_case", ["organisation_id", "case_id"]
        )
        batch_op.drop_index("ix_case_organisations_organisation_id")


def downgrade():
    with op.batch_alter_table("case_organisations") as batch_op:
        batch_op.create_index("ix_case_organisations_organisation_id", ["organisation_id"])
        batch_op.drop_index("ix_case_organisations_organisation_case")
    with op.batch_alter_table("case_agreements") as batch_op:
        batch_op.create_index("ix_case_agreements_agreement_id", ["agreement_id"])
        batch_op.drop_index("ix_case_agreements_agreement_case")
