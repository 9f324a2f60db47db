"""Fee schedules (收费标准): per estate, versioned, with the fee items, adjustments and meter
readings that the billing run prices."""
