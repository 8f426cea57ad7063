"""Governance: pseudonymous identifiers, the decision log, checks an auditor relies on."""
