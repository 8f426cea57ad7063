"""Great Expectations suites for the raw contract, row quarantine and reconciliation."""
