"""Payments and how they settle bills. This module holds what billing needs now (a payment,
its allocations to bill lines, prepaid credit); the payments issue adds desk and online
collection, receipts and refunds on top."""
