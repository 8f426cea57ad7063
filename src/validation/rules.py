"""Row-level rules of the raw contract, as Great Expectations expectations.

Each rule carries the plain-words reason that a quarantined row gets. Checks that span
tables (foreign keys, dates against the loan's opening) are expressed on helper columns
that :func:`add_helper_columns` derives from the already validated parent tables, so that
Great Expectations remains the single engine of record and its Data Docs show every check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.expectations.expectation import Expectation

from creditrisk.contract import TableSpec
from creditrisk.validation.coerce import convert

HELPER_PREFIX = "_check_"


@dataclass(frozen=True)
class Rule:
    """One row-level check.

    Attributes:
        column: the contract column the reason names.
        reason: text given to every failing row, e.g. "amount: negative".
        expectation: the Great Expectations expectation that finds the failing rows.
    """

    column: str
    reason: str
    expectation: Expectation


def _not_null(col: str) -> Rule:
    return Rule(col, f"{col}: missing", gxe.ExpectColumnValuesToNotBeNull(column=col))


def _unique(col: str) -> Rule:
    return Rule(col, f"{col}: duplicate key", gxe.ExpectColumnValuesToBeUnique(column=col))


# A table validated in batches checks its key (TableSpec.key) over the whole table first,
# from the key columns alone; the batches' suites check this helper flag instead.
KEY_FLAG = "key_unique"


def key_unique(raw_keys: pd.DataFrame, spec: TableSpec) -> np.ndarray:
    """Per row of a table's raw key columns (``spec.key``): its key, converted to the
    contract types, is not shared with another row, as the suite's uniqueness checks judge
    it (rows whose key is all missing are never duplicates)."""
    keys = pd.DataFrame({k: convert(raw_keys[k], spec.columns[k]) for k in spec.key})
    missing = keys.isna().all(axis=1) if keys.shape[1] > 1 else keys.iloc[:, 0].isna()
    duplicated = keys.duplicated(keep=False)
    return np.asarray(~duplicated | missing, dtype=bool)


def _at_least(col: str, low: float, *, strict: bool = False) -> Rule:
    word = "not positive" if strict and low == 0 else ("negative" if low == 0 else f"below {low}")
    return Rule(
        col,
        f"{col}: {word}",
        gxe.ExpectColumnValuesToBeBetween(column=col, min_value=low, strict_min=strict),
    )


def _not_after(col: str, end: date) -> Rule:
    limit = pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return Rule(
        col,
        f"{col}: after the data's end {end.isoformat()}",
        gxe.ExpectColumnValuesToBeBetween(column=col, max_value=limit.to_pydatetime()),
    )


def _flag(col: str, helper: str, reason: str) -> Rule:
    return Rule(
        col,
        f"{col}: {reason}",
        gxe.ExpectColumnValuesToBeInSet(column=HELPER_PREFIX + helper, value_set=[True]),
    )


def _not_before(col: str, other: str, reason: str) -> Rule:
    return Rule(
        col,
        f"{col}: {reason}",
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=col, column_B=other, or_equal=True, ignore_row_if="either_value_is_missing"
        ),
    )


def _snapshot_not_after(col: str, end: date) -> Rule:
    """A snapshot date sees events strictly before it, so the day after the data's end is
    the latest snapshot the data can describe (the usual as_of of a lender's outcomes)."""
    limit = pd.Timestamp(end) + pd.Timedelta(days=2) - pd.Timedelta(microseconds=1)
    last = (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()
    return Rule(
        col,
        f"{col}: after {last}, the day after the data's end (a snapshot sees only earlier events)",
        gxe.ExpectColumnValuesToBeBetween(column=col, max_value=limit.to_pydatetime()),
    )


def rules_for(
    table: str, *, end_date: date, columns: pd.Index, keys_flagged: bool = False
) -> list[Rule]:
    """The row-level rules of ``table``; rules on absent optional columns are left out.
    ``keys_flagged``: the key's uniqueness is the helper flag ``key_unique`` (computed
    over the whole table by :func:`key_unique`), for a table validated in batches."""
    builders: dict[str, Callable[[], list[Rule]]] = {
        "customers": lambda: [
            _not_null("customer_id"),
            _unique("customer_id"),
            _not_null("created_at"),
            _not_after("created_at", end_date),
            *([_at_least("income_monthly", 0)] if "income_monthly" in columns else []),
            *(
                [
                    Rule(
                        "birth_year",
                        "birth_year: implausible",
                        gxe.ExpectColumnValuesToBeBetween(
                            column="birth_year", min_value=1900, max_value=end_date.year
                        ),
                    )
                ]
                if "birth_year" in columns
                else []
            ),
        ],
        "transactions": lambda: [
            _not_null("transaction_id"),
            _unique("transaction_id"),
            _not_null("customer_id"),
            _flag("customer_id", "customer_known", "not a valid customer"),
            _not_null("ts"),
            _not_after("ts", end_date),
            _not_null("amount"),
            _at_least("amount", 0),
        ],
        "loans": lambda: [
            _not_null("loan_id"),
            _unique("loan_id"),
            _not_null("customer_id"),
            _flag("customer_id", "customer_known", "not a valid customer"),
            _not_null("opened_at"),
            _not_after("opened_at", end_date),
            _not_null("principal"),
            _at_least("principal", 0, strict=True),
            _not_null("n_installments"),
            _at_least("n_installments", 1),
        ],
        "repayments": lambda: [
            _not_null("loan_id"),
            _flag("loan_id", "loan_known", "not a valid loan"),
            _not_null("installment_no"),
            _at_least("installment_no", 1),
            Rule(
                "installment_no",
                "installment_no: above the loan's n_installments",
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=HELPER_PREFIX + "loan_n_installments",
                    column_B="installment_no",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
            ),
            _not_null("due_date"),
            _not_before("due_date", HELPER_PREFIX + "loan_opened_day", "before the loan opened"),
            _not_null("amount_due"),
            _at_least("amount_due", 0),
            _not_after("paid_date", end_date),
            _not_before("paid_date", HELPER_PREFIX + "loan_opened_day", "before the loan opened"),
            _at_least("amount_paid", 0),
            _flag("amount_paid", "payment_consistent", "paid_date and amount_paid disagree"),
        ],
        "outcomes": lambda: [
            _not_null("customer_id"),
            _flag("customer_id", "customer_known", "not a valid customer"),
            _not_null("as_of"),
            _snapshot_not_after("as_of", end_date),
            Rule(
                "default",
                "default: not 0 or 1",
                gxe.ExpectColumnValuesToBeInSet(column="default", value_set=[0, 1]),
            ),
            Rule(
                "as_of",
                "customer_id, as_of: duplicate key",
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "as_of"]),
            ),
        ],
    }
    rules = builders[table]()
    if keys_flagged:
        rules = [_flagged_key(r) for r in rules]
    for rule in rules:
        rule.expectation.meta = {"reason": rule.reason, "column": rule.column}
    return rules


def _flagged_key(rule: Rule) -> Rule:
    if not rule.reason.endswith(": duplicate key"):
        return rule
    return Rule(
        rule.column,
        rule.reason,
        gxe.ExpectColumnValuesToBeInSet(column=HELPER_PREFIX + KEY_FLAG, value_set=[True]),
    )


def add_helper_columns(
    table: str,
    frame: pd.DataFrame,
    parents: Mapping[str, pd.DataFrame],
    unique: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return ``frame`` with the helper columns its cross-table rules check.

    Args:
        table: the contract table ``frame`` holds.
        frame: typed rows of that table.
        parents: already validated (kept) parent tables by name.
        unique: per row, :func:`key_unique` of the whole table (batches only).
    """
    out = frame.copy()
    if unique is not None:
        out[HELPER_PREFIX + KEY_FLAG] = unique
    if table in ("transactions", "loans", "outcomes"):
        known = parents["customers"]["customer_id"]
        out[HELPER_PREFIX + "customer_known"] = is_in(out["customer_id"], known)
    if table == "repayments":
        loans = parents["loans"].set_index("loan_id")
        out[HELPER_PREFIX + "loan_known"] = is_in(out["loan_id"], loans["opened_at"].index)
        keys = out["loan_id"].to_numpy()
        opened = loans["opened_at"].astype("datetime64[us]").reindex(keys)
        out[HELPER_PREFIX + "loan_opened_day"] = opened.dt.floor("D").to_numpy()
        n_inst = loans["n_installments"].astype("Float64").reindex(keys)
        out[HELPER_PREFIX + "loan_n_installments"] = n_inst.to_numpy()
        paid = out["paid_date"].notna()
        amount = out["amount_paid"]
        out[HELPER_PREFIX + "payment_consistent"] = ~(
            (paid & amount.isna()) | (~paid & amount.fillna(0).gt(0))
        )
    return out


def is_in(values: pd.Series, known: pd.Series | pd.Index) -> np.ndarray:
    """Per value, whether it is one of ``known`` (``Series.isin``; a missing value is
    never known). Text keys are compared in Arrow: pandas' ``isin`` on Arrow-backed text
    builds a Python object per known value, seconds per million keys and batch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        left = pa.array(values, from_pandas=True)
        right = pa.array(pd.Series(known).dropna(), from_pandas=True)
        if not (pa.types.is_string(left.type) or pa.types.is_large_string(left.type)):
            raise TypeError(left.type)
        found = pc.is_in(left, value_set=right.cast(left.type))
        return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    except (pa.ArrowException, TypeError, ValueError):  # other key types: pandas
        return np.asarray(values.isin(known) & values.notna(), dtype=bool)


def drop_helper_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the helper columns."""
    return frame.drop(columns=[c for c in frame.columns if c.startswith(HELPER_PREFIX)])
