"""Refunds of payments (退款): services, API, pages."""
