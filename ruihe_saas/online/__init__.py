"""Online payments: gateway settings, residents' pay links, checkout, webhook, reconciliation."""
