"""The cashiers' daily cash-up (日结): totals per cashier and method, closing a day."""
