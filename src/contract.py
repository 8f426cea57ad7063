"""The raw input contract: tables, required columns and their logical types.

Every stage after ingest reads data shaped by this module, and the validation suites are
built from it, so the contract is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Logical type of a contract column."""

    ID = "id"  # stored as string; integer ids are converted
    TIMESTAMP = "timestamp"  # naive UTC, microsecond resolution
    FLOAT = "float"
    INT = "int"


@dataclass(frozen=True)
class TableSpec:
    """One table of the raw contract.

    Attributes:
        name: table name, also the file stem under ``data/raw/``.
        columns: required columns and their kinds, in contract order.
        key: columns that identify a row uniquely (empty when rows are events).
        optional: well-known optional columns and their kinds; others pass through untouched.
        nullable: required columns that may hold nulls (for example an unpaid ``paid_date``).
    """

    name: str
    columns: dict[str, Kind]
    key: tuple[str, ...] = ()
    optional: dict[str, Kind] | None = None
    nullable: frozenset[str] = frozenset()

    @property
    def typed_columns(self) -> dict[str, Kind]:
        """Required plus well-known optional columns with their kinds."""
        return {**self.columns, **(self.optional or {})}


CUSTOMERS = TableSpec(
    name="customers",
    columns={"customer_id": Kind.ID, "created_at": Kind.TIMESTAMP},
    key=("customer_id",),
    optional={"income_monthly": Kind.FLOAT, "birth_year": Kind.INT, "credit_line": Kind.FLOAT},
)
TRANSACTIONS = TableSpec(
    name="transactions",
    columns={
        "transaction_id": Kind.ID,
        "customer_id": Kind.ID,
        "ts": Kind.TIMESTAMP,
        "amount": Kind.FLOAT,
    },
    key=("transaction_id",),
)
LOANS = TableSpec(
    name="loans",
    columns={
        "loan_id": Kind.ID,
        "customer_id": Kind.ID,
        "opened_at": Kind.TIMESTAMP,
        "principal": Kind.FLOAT,
        "n_installments": Kind.INT,
    },
    key=("loan_id",),
)
REPAYMENTS = TableSpec(
    name="repayments",
    columns={
        "loan_id": Kind.ID,
        "installment_no": Kind.INT,
        "due_date": Kind.TIMESTAMP,
        "amount_due": Kind.FLOAT,
        "paid_date": Kind.TIMESTAMP,
        "amount_paid": Kind.FLOAT,
    },
    # Statement-shaped exports (revolving accounts): the statement an installment settles,
    # its date and its balance (negative: a credit balance).
    optional={"statement_date": Kind.TIMESTAMP, "statement_balance": Kind.FLOAT},
    nullable=frozenset({"paid_date", "amount_paid"}),
)
PAID_TOLERANCE = 0.005
"""Currency units: an installment paid to within half a cent is paid (rounding on amounts
paid in several parts), for the features, the labels and the monitoring signals alike."""

SNAPSHOT_KEY = ("customer_id", "as_of")
"""The key of a snapshot: of the outcomes table, the feature table and every frame after it."""
LABEL_COLUMNS = ("default", "label_complete")
"""The label columns of the feature table (``default`` null where ``label_complete`` is false)."""

OUTCOMES = TableSpec(
    name="outcomes",
    columns={"customer_id": Kind.ID, "as_of": Kind.TIMESTAMP, "default": Kind.INT},
    key=SNAPSHOT_KEY,
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (CUSTOMERS, TRANSACTIONS, LOANS, REPAYMENTS, OUTCOMES)
}
"""All contract tables, in dependency order (a table's parents come before it)."""

REQUIRED_TABLES: tuple[str, ...] = ("customers",)
"""Tables that must always be present; see :func:`check_table_set` for the rest."""


class ContractError(ValueError):
    """The set of tables, or a table's columns, breaks the raw contract."""


def check_table_set(present: set[str]) -> None:
    """Check that the tables present can feed the pipeline.

    Raises:
        ContractError: ``customers`` is missing, or neither ``repayments`` (for derived
            labels) nor ``outcomes`` (explicit labels) is present.
    """
    missing = [t for t in REQUIRED_TABLES if t not in present]
    if missing:
        raise ContractError(
            f"required table(s) {missing} missing; found {sorted(present) or 'no tables'}"
        )
    if "repayments" not in present and "outcomes" not in present:
        raise ContractError(
            "labels cannot be made: provide 'repayments' (labels are derived from late "
            "installments) or 'outcomes' (explicit labels); found " + str(sorted(present))
        )
    unknown_parents = {"repayments": "loans"}
    for child, parent in unknown_parents.items():
        if child in present and parent not in present:
            raise ContractError(
                f"table '{child}' needs table '{parent}' (its loan_id refers to it)"
            )
