"""Bad input against the validate stage: each case quarantines with a reason or stops clearly.

Every case runs the real stage (Great Expectations included) on tiny hand-made tables and
checks the reconciliation: rows in = rows kept + rows quarantined, per table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from creditrisk.contract import ContractError
from creditrisk.validation.errors import TableValidationError
from pipelines import validate
from tests.conftest import set_params, ts

Tables = dict[str, pd.DataFrame]


@pytest.fixture(autouse=True)
def _tolerant(project: Path) -> None:
    """Tiny tables: one bad row is a third of a table, so allow up to 70% per table."""
    set_params(project, validate={"max_quarantine_share": 0.7})


def run(
    project: Path, tables: Tables
) -> tuple[dict, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    raw = project / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    validate.main(raw, project / "data/validated", project / "data/quarantine", project / "reports")
    summary = json.loads((project / "reports" / "summary.json").read_text())
    kept = {n: pd.read_parquet(project / "data/validated" / f"{n}.parquet") for n in tables}
    quarantined = {n: pd.read_parquet(project / "data/quarantine" / f"{n}.parquet") for n in tables}
    for name in tables:
        s = summary["tables"][name]
        assert s["rows_in"] == len(tables[name]) == s["rows_kept"] + s["rows_quarantined"]
        assert s["rows_kept"] == len(kept[name]) and s["rows_quarantined"] == len(quarantined[name])
    assert summary["reconciled"] is True
    return summary, kept, quarantined


def reasons(q: pd.DataFrame) -> dict[int, str]:
    return dict(zip(q["source_row"], q["quarantine_reason"], strict=True))


def test_clean_data_passes_untouched(project: Path, tiny_tables: Tables) -> None:
    summary, kept, _quarantined = run(project, tiny_tables)
    assert summary["rows_quarantined"] == 0
    assert kept["repayments"]["installment_no"].dtype == "int64"
    assert kept["customers"]["region"].tolist() == ["north", "south"]  # extra columns survive
    assert (project / "reports" / "data_docs" / "index.html").exists()


def test_negative_amount_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"].loc[1, "amount"] = -20.0
    summary, _kept, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {1: "amount: negative"}
    assert q["transactions"]["amount"].tolist() == [-20.0]  # original value kept
    assert summary["tables"]["transactions"]["reasons"] == {"amount: negative": 1}


def test_duplicate_key_quarantines_every_copy(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"].loc[2, "transaction_id"] = "T1"
    _, kept, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {
        0: "transaction_id: duplicate key",
        2: "transaction_id: duplicate key",
    }
    assert kept["transactions"]["transaction_id"].tolist() == ["T2"]


def test_unknown_customer_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"].loc[0, "customer_id"] = "C999"
    _, _, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {0: "customer_id: not a valid customer"}


def test_null_customer_id_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"].loc[2, "customer_id"] = None
    _, _, q = run(project, tiny_tables)
    assert "customer_id: missing" in reasons(q["transactions"])[2]


def test_event_after_data_end_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"].loc[1, "ts"] = ts("2031-01-01")
    _, _, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {1: "ts: after the data's end 2025-12-31"}


def test_payment_before_loan_opened_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["repayments"].loc[0, "paid_date"] = ts("2023-03-01")
    _, _, q = run(project, tiny_tables)
    assert reasons(q["repayments"]) == {0: "paid_date: before the loan opened"}


def test_installment_beyond_plan_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["repayments"].loc[3, "installment_no"] = 7
    _, _, q = run(project, tiny_tables)
    assert reasons(q["repayments"]) == {3: "installment_no: above the loan's n_installments"}


def test_paid_date_without_amount_is_quarantined(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["repayments"].loc[0, "amount_paid"] = None
    _, _, q = run(project, tiny_tables)
    assert reasons(q["repayments"]) == {0: "amount_paid: paid_date and amount_paid disagree"}


def test_quarantined_customer_cascades_to_children(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["customers"].loc[0, "created_at"] = pd.NaT  # C1 owns the loan
    set_params(project, validate={"max_quarantine_share": 1.0})  # all of C1's loans go
    summary, kept, q = run(project, tiny_tables)
    assert reasons(q["customers"]) == {0: "created_at: missing"}
    assert set(q["transactions"]["source_row"]) == {0, 1}
    assert q["loans"]["quarantine_reason"].tolist() == ["customer_id: not a valid customer"]
    assert set(q["repayments"]["quarantine_reason"]) == {"loan_id: not a valid loan"}
    assert kept["transactions"]["customer_id"].tolist() == ["C2"]
    assert summary["rows_in"] == summary["rows_kept"] + summary["rows_quarantined"]


def test_unconvertible_value_keeps_its_spelling(project: Path, tiny_tables: Tables) -> None:
    tx = tiny_tables["transactions"].astype({"amount": "object"})
    tx.loc[2, "amount"] = "12,50 EUR"
    tiny_tables["transactions"] = tx.astype({"amount": "str"})
    _, kept, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {2: "amount: not convertible to the contract type"}
    assert q["transactions"]["amount"].tolist() == ["12,50 EUR"]
    assert kept["transactions"]["amount"].dtype == "float64"


def test_non_positive_principal_and_zero_installments(project: Path, tiny_tables: Tables) -> None:
    loans = pd.concat([tiny_tables["loans"]] * 3, ignore_index=True)
    loans["loan_id"] = ["L1", "L2", "L3"]
    loans.loc[1, "principal"] = 0.0
    loans.loc[2, "n_installments"] = 0
    tiny_tables["loans"] = loans
    set_params(project, validate={"max_quarantine_share": 0.9})
    _, _, q = run(project, tiny_tables)
    assert reasons(q["loans"]) == {
        1: "principal: not positive",
        2: "n_installments: below 1",
    }


def test_outcome_label_must_be_binary(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["outcomes"] = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C2"],
            "as_of": [ts("2024-01-01"), ts("2024-01-01"), ts("2024-01-01")],
            "default": [0, 2, 1],
        }
    )
    set_params(project, validate={"max_quarantine_share": 0.9})
    _, _, q = run(project, tiny_tables)
    got = reasons(q["outcomes"])
    assert got[1] == "customer_id, as_of: duplicate key; default: not 0 or 1"
    assert got[2] == "customer_id, as_of: duplicate key"


# --- table-level failures: the stage stops, naming table, column and rows ---


def test_missing_required_column_stops(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"] = tiny_tables["transactions"].drop(columns=["amount"])
    with pytest.raises(TableValidationError) as err:
        run(project, tiny_tables)
    assert err.value.table == "transactions" and err.value.column == "amount"
    assert "data.columns" in str(err.value)  # tells the user how to fix it


def test_unreadable_file_stops(project: Path, tiny_tables: Tables) -> None:
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "loans.parquet").write_bytes(b"this is not parquet")
    del tiny_tables["loans"]
    tiny_tables.pop("repayments")
    tiny_tables["outcomes"] = pd.DataFrame(
        {"customer_id": ["C1"], "as_of": [ts("2024-01-01")], "default": [0]}
    )
    with pytest.raises(TableValidationError, match=r"table 'loans'.*cannot read"):
        run(project, tiny_tables)


def test_mostly_failing_table_stops_with_examples(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["transactions"]["amount"] = [-1.0, -2.0, -5.0]
    with pytest.raises(TableValidationError) as err:
        run(project, tiny_tables)
    text = str(err.value)
    assert err.value.column == "amount"
    assert "3 of 3 rows" in text and "'amount: negative' (3 rows)" in text
    assert err.value.examples is not None and len(err.value.examples) == 3


def test_wrong_type_column_stops(project: Path, tiny_tables: Tables) -> None:
    tiny_tables["loans"]["opened_at"] = ["yesterday"]
    with pytest.raises(TableValidationError) as err:
        run(project, tiny_tables)
    assert err.value.column == "opened_at" and "not a date" in str(err.value)


def test_missing_customers_table_stops(project: Path, tiny_tables: Tables) -> None:
    del tiny_tables["customers"]
    with pytest.raises(ContractError, match="customers"):
        run(project, tiny_tables)


def test_no_label_source_stops(project: Path, tiny_tables: Tables) -> None:
    del tiny_tables["repayments"]
    with pytest.raises(ContractError, match="labels cannot be made"):
        run(project, tiny_tables)


def test_failed_run_leaves_no_partial_outputs(project: Path, tiny_tables: Tables) -> None:
    run(project, tiny_tables)
    before = (project / "data/validated/customers.parquet").read_bytes()
    tiny_tables["transactions"] = tiny_tables["transactions"].drop(columns=["ts"])
    with pytest.raises(TableValidationError):
        run(project, tiny_tables)
    assert (project / "data/validated/customers.parquet").read_bytes() == before
