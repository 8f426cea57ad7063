"""Bad input against the validate stage: each case quarantines with a reason or stops clearly.

Every case runs the real stage (Great Expectations included) on tiny hand-made tables and
checks the reconciliation: rows in = rows kept + rows quarantined, per table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def test_dates_beyond_the_nanosecond_range_are_judged_like_any_other(
    project: Path, tiny_tables: Tables
) -> None:
    """The checks compare dates at nanosecond resolution (1677-2262); a raw date outside
    that range still fails the rule it breaks, and kept rows keep their exact values."""
    transactions = tiny_tables["transactions"]
    transactions["ts"] = transactions["ts"].astype("datetime64[us]")
    transactions.loc[1, "ts"] = pd.Timestamp("2400-01-01").as_unit("us")
    repayments = tiny_tables["repayments"]
    repayments["paid_date"] = repayments["paid_date"].astype("datetime64[us]")
    repayments.loc[0, "paid_date"] = pd.Timestamp("1500-06-01").as_unit("us")
    _, kept, q = run(project, tiny_tables)
    assert reasons(q["transactions"]) == {1: "ts: after the data's end 2025-12-31"}
    assert reasons(q["repayments"]) == {0: "paid_date: before the loan opened"}
    assert kept["transactions"]["ts"].tolist() == [ts("2023-02-01 10:00"), ts("2023-05-06 09:00")]


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


def _larger_tables(seed: int = 5) -> Tables:
    """A few thousand rows with bad rows spread through the files: duplicate keys whose
    copies sit far apart, unknown customers and loans, negative amounts, late events."""
    rng = np.random.default_rng(seed)
    n_c, n_t, n_l = 300, 6000, 400
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n_c)],
            "created_at": pd.Timestamp("2022-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n_c), "D"),
            "income_monthly": rng.uniform(500, 5000, n_c),
        }
    )
    customers.loc[[7, 250], "customer_id"] = "C7"  # a duplicate customer, copies far apart
    transactions = pd.DataFrame(
        {
            "transaction_id": [f"T{i}" for i in range(n_t)],
            "customer_id": [f"C{i}" for i in rng.integers(0, n_c, n_t)],
            "ts": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 600, n_t), "D"),
            "amount": rng.uniform(1, 500, n_t),
        }
    )
    transactions.loc[[3, 5900], "transaction_id"] = "T3"  # first and last batch
    transactions.loc[rng.choice(n_t, 40, replace=False), "amount"] = -1.0
    transactions.loc[rng.choice(n_t, 30, replace=False), "customer_id"] = "C_unknown"
    transactions.loc[[4000, 4001], "ts"] = pd.Timestamp("2031-01-01")
    loans = pd.DataFrame(
        {
            "loan_id": [f"L{i}" for i in range(n_l)],
            "customer_id": [f"C{i}" for i in rng.integers(0, n_c, n_l)],
            "opened_at": pd.Timestamp("2023-02-01")
            + pd.to_timedelta(rng.integers(0, 300, n_l), "D"),
            "principal": rng.uniform(100, 3000, n_l),
            "n_installments": np.full(n_l, 6),
        }
    )
    rep = loans.loc[loans.index.repeat(6), ["loan_id", "opened_at"]].reset_index(drop=True)
    rep["installment_no"] = np.tile(np.arange(1, 7), n_l)
    rep["due_date"] = rep["opened_at"] + pd.to_timedelta(30 * rep["installment_no"], "D")
    rep["amount_due"] = 50.0
    paid = rng.random(len(rep)) < 0.9
    rep["paid_date"] = rep["due_date"].where(paid)
    rep["amount_paid"] = np.where(paid, 50.0, np.nan)
    rep = rep.drop(columns=["opened_at"])
    rep.loc[rng.choice(len(rep), 20, replace=False), "loan_id"] = "L_unknown"
    return {"customers": customers, "transactions": transactions, "loans": loans, "repayments": rep}


def test_batches_give_what_the_whole_table_gives(project: Path) -> None:
    """A table above validate.batch_rows is validated in batches of row groups: the kept
    and quarantined rows, their file positions, reasons and counts are those of the whole
    table in one piece, duplicate keys across batches included."""
    tables = _larger_tables()
    raw = project / "data/raw"
    raw.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False, row_group_size=700)
    outputs = {}
    for tag, batch_rows in (("whole", 10**9), ("batched", 1500)):
        set_params(project, validate={"batch_rows": batch_rows, "max_quarantine_share": 0.2})
        folder = project / tag
        validate.main(raw, folder / "validated", folder / "quarantine", folder / "reports")
        outputs[tag] = folder
    whole = json.loads((outputs["whole"] / "reports/summary.json").read_text())
    batched = json.loads((outputs["batched"] / "reports/summary.json").read_text())
    assert batched["tables"]["transactions"].pop("batches") == 3  # 6000 rows, 2100 a batch
    assert batched["tables"]["repayments"].pop("batches") == 2
    assert "batches" not in batched["tables"]["customers"]  # small tables in one piece
    assert batched == whole
    assert whole["tables"]["transactions"]["reasons"]["transaction_id: duplicate key"] == 2
    for table in tables:
        for part in ("validated", "quarantine"):
            a = pd.read_parquet(outputs["whole"] / part / f"{table}.parquet")
            b = pd.read_parquet(outputs["batched"] / part / f"{table}.parquet")
            pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=f"{part}/{table}")
    q = pd.read_parquet(outputs["batched"] / "quarantine/transactions.parquet")
    dup = q.loc[q["quarantine_reason"].str.contains("duplicate key"), "source_row"]
    assert sorted(dup) == [3, 5900]  # positions in the file, not in the batch
    assert {4000, 4001} <= set(q["source_row"])


def test_a_batch_mostly_failing_stops_with_file_rows(project: Path) -> None:
    tables = _larger_tables()
    tables["transactions"].loc[4300:5600, "amount"] = -3.0  # most of the last batch
    raw = project / "data/raw"
    raw.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False, row_group_size=700)
    set_params(project, validate={"batch_rows": 1500, "max_quarantine_share": 0.2})
    with pytest.raises(TableValidationError) as err:
        validate.main(raw, project / "v", project / "q", project / "r")
    assert err.value.table == "transactions" and err.value.column == "amount"
    assert err.value.examples is not None and err.value.examples.index.min() >= 4200
    assert not (project / "v").exists()  # nothing written


@pytest.mark.parametrize(
    ("values", "known"),
    [
        (pd.Series(["C1", None, "C3", "C2"], dtype="string[pyarrow]"), pd.Series(["C2", "C1"])),
        (pd.Series(["C1", None, "C3"], dtype=object), pd.Index(["C3", None])),
        (pd.Series([1, 2, 3]), pd.Series([3, 1])),
        (pd.Series(["C1", "C2"], dtype="large_string[pyarrow]"), pd.Series([], dtype=object)),
    ],
)
def test_key_membership_matches_pandas_isin(values: pd.Series, known: pd.Series) -> None:
    from creditrisk.validation.rules import is_in

    expected = (values.isin(pd.Series(known).dropna()) & values.notna()).to_numpy(dtype=bool)
    assert is_in(values, known).tolist() == expected.tolist()
