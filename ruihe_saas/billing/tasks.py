"""Billing jobs (RQ, queue ``billing``): they take ids only."""

from __future__ import annotations


def execute_billing_run(run_id: str) -> dict:
    from ruihe_saas.billing.runs import execute_billing_run as execute

    return execute(run_id)
