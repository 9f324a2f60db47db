"""online: failed payouts (the bank returned a paid payout: its entry reversed)

A payout can be reported paid and fail days later (the bank returns it). The payout record
gets the status ``failed``, the day the failure was learnt and the reversal of its entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 13:14:33.857527

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FAILURE_RECORDED = "(status = 'failed') = (failed_on IS NOT NULL AND reversal_entry_id IS NOT NULL)"


def upgrade():
    # SQLite: the batch recreates the table with every constraint the table still has
    with op.batch_alter_table("gateway_payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reversal_entry_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_gateway_payouts_tenant_id_reversal_entry_id_journal_entries"),
            "journal_entries",
            ["tenant_id", "reversal_entry_id"],
            ["tenant_id", "id"],
        )
        batch_op.drop_constraint(op.f("ck_gateway_payouts_payout_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_gateway_payouts_payout_status"), "status IN ('paid', 'failed')"
        )
        batch_op.create_check_constraint(
            op.f("ck_gateway_payouts_failure_recorded"), FAILURE_RECORDED
        )


def downgrade():
    # a failed payout cannot be expressed before this revision: refuse rather than lose it
    failed = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM gateway_payouts WHERE status = 'failed'")
    )
    if failed:
        raise RuntimeError(f"{failed} failed payout(s) recorded: cannot downgrade below 0009")
    with op.batch_alter_table("gateway_payouts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_gateway_payouts_failure_recorded"), type_="check")
        batch_op.drop_constraint(op.f("ck_gateway_payouts_payout_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_gateway_payouts_payout_status"), "status = 'paid'"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_gateway_payouts_tenant_id_reversal_entry_id_journal_entries"),
            type_="foreignkey",
        )
        batch_op.drop_column("reversal_entry_id")
        batch_op.drop_column("failed_on")
