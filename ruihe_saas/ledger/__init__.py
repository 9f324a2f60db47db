"""The collective-economy ledger: an append-only double-entry journal per accounting entity
(each estate, and the tenant's collective economy itself), periods that close."""
