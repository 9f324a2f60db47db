"""The billing run and what it produces: bills (账单), their lines, credits (红冲)."""
