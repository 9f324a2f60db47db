"""``flask payments …``: online payment maintenance (reconciliation with the gateway)."""

from __future__ import annotations

from flask.cli import AppGroup

payments_cli = AppGroup("payments", help="Online payments: reconcile with the gateway.")
