"""SQLite: answered exchanges indexed by response time, for the compliance percentiles

Revision ID: 0004_compliance_response
Revises: 0003_case_links
Create Date: 2026-11-26 14:00:00

Hand-written. SQLite has no percentile_cont: the evaluation finds the median
and 90th percentile of response times as the values at given ranks
(ORDER BY ... LIMIT 2 OFFSET k). Over the covering index that is a sort of
every answered request (0.1-0.2 s at 125,000 of them); over an index in
order of the response time itself it is a walk to the rank, no sort.

- ix_exchanges_response_time: (agreement, response time, ...) for a period's
  percentiles;
- ix_exchanges_response_month: (agreement, local month of sending, response
  time, ...) for each month's, on the chart against the deadline.

Both on expressions the evaluation writes identically (hub/compliance/sql.py:
seconds_between, local_month; UTC+7 has no daylight saving, so a fixed
modifier is exact), both partial (answered exchanges only), both carrying the
columns the evaluation filters on, so SQLite reads nothing else. PostgreSQL
computes percentile_cont itself and needs neither: nothing is created there.
"""

from alembic import op

revision = "0004_compliance_response"
down_revision = "0003_case_links"
branch_labels = None
depends_on = None

RESPONSE = "((julianday(answered_at) - julianday(sent_at)) * 86400.0)"
MONTH = "strftime('%Y-%m', sent_at, '+7 hours')"
CARRIED = "kind, sent_at, sender_id, recipient_id, answered_at"


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE INDEX ix_exchanges_response_time ON exchanges "
        f"(agreement_id, {RESPONSE}, {CARRIED}) WHERE answered_at IS NOT NULL"
    )
    op.execute(
        f"CREATE INDEX ix_exchanges_response_month ON exchanges "
        f"(agreement_id, {MONTH}, {RESPONSE}, {CARRIED}) WHERE answered_at IS NOT NULL"
    )


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP INDEX ix_exchanges_response_month")
    op.execute("DROP INDEX ix_exchanges_response_time")
