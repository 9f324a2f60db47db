"""Receipts (收据): gap-free per-tenant numbers, PDF, reprints (副本), cancellation."""
