"""The reason groups a customer reads: one statement per kind of behaviour (a leaf module:
the params schema validates declared groups against it)."""

from __future__ import annotations

# Reason groups: one plain-language statement per group. Adverse-action reasons name
# groups, never two features of the same behaviour; a feature without a risk direction
# belongs to no group and is never a reason.
REASON_GROUPS: dict[str, str] = {
    "overdue_now": "A payment is overdue now",
    "late_payments": "Recent payments were late",
    "unpaid_installments": "Recent installments were not paid in full",
    "payment_timing": "Installments are paid on or after their due date, not ahead of it",
    "debt_level": "A high balance is outstanding against the credit granted",
    "new_credit": "Several installment plans are open or were opened recently",
    "credit_history": "The relationship and credit history with us are short",
    "purchase_activity": "Few or slowing purchases recently",
    "income": "The declared income is low for the credit",
}
