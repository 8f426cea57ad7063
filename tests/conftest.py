"""Shared fixtures: tiny hand-made raw tables and a temporary project folder for stages."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


@pytest.fixture
def tiny_tables() -> dict[str, pd.DataFrame]:
    """A valid dataset of two customers, three purchases, one loan with three installments."""
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "created_at": [ts("2023-01-10"), ts("2023-03-05")],
            "income_monthly": [2500.0, None],
            "birth_year": [1980, 1995],
            "region": ["north", "south"],
        }
    )
    transactions = pd.DataFrame(
        {
            "transaction_id": ["T1", "T2", "T3"],
            "customer_id": ["C1", "C1", "C2"],
            "ts": [ts("2023-02-01 10:00"), ts("2023-04-02 12:30"), ts("2023-05-06 09:00")],
            "amount": [120.0, 300.0, 45.5],
            "category": ["groceries", "electronics", "groceries"],
        }
    )
    loans = pd.DataFrame(
        {
            "loan_id": ["L1"],
            "customer_id": ["C1"],
            "opened_at": [ts("2023-04-02 12:30")],
            "principal": [300.0],
            "n_installments": [3],
        }
    )
    repayments = pd.DataFrame(
        {
            "loan_id": ["L1", "L1", "L1", "L1"],
            "installment_no": [1, 2, 2, 3],
            "due_date": [ts("2023-05-01"), ts("2023-06-01"), ts("2023-06-01"), ts("2023-07-01")],
            "amount_due": [100.0, 100.0, 100.0, 100.0],
            "paid_date": [ts("2023-05-01"), ts("2023-06-20"), ts("2023-07-10"), pd.NaT],
            "amount_paid": [100.0, 60.0, 40.0, None],
        }
    )
    return {
        "customers": customers,
        "transactions": transactions,
        "loans": loans,
        "repayments": repayments,
    }


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A temporary working folder holding a copy of params.yaml; stages run inside it."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def set_params(folder: Path, **sections: dict) -> None:
    """Update params.yaml in ``folder``: each keyword is a section, merged one level deep."""
    path = folder / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values}
    path.write_text(yaml.safe_dump(params, sort_keys=False))
