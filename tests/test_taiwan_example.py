"""The Taiwan credit-card example at reduced size: the conversion meets the raw contract
and the pipeline runs on it with the example's settings only, its statement features
available; the conversion keeps what the statements say (statuses, balances, payments)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, set_params
from tests.pipeline_run import inside, new_project, run_pipeline

EXAMPLE = REPO / "examples/taiwan_credit_card"


def convert_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("taiwan_convert", EXAMPLE / "convert.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_sample(rows: int) -> pd.DataFrame:
    raw = pd.read_csv(EXAMPLE / "UCI_Credit_Card.csv.gz")
    return raw.sample(n=rows, random_state=7).sort_values("ID")


def test_conversion_keeps_statuses_balances_and_payments() -> None:
    convert = convert_module()
    raw = raw_sample(400)
    tables = convert.convert(raw)
    rep = tables["repayments"]
    first = raw.iloc[0]
    mine = rep[rep["loan_id"] == f"TW{int(first['ID'])}"]
    # The September statement (BILL_AMT1) is dated before as_of and falls due after it.
    sept = mine[mine["statement_date"] == pd.Timestamp("2005-09-30")]
    assert sept["statement_balance"].iloc[0] == first["BILL_AMT1"]
    assert (sept["due_date"] > convert.AS_OF).all() and sept["paid_date"].isna().all()
    # Nothing is known on or after as_of.
    assert (rep["paid_date"].dropna() < convert.AS_OF).all()
    assert (tables["transactions"]["ts"] < convert.AS_OF).all()
    # A late status leaves the installments it names unpaid at the month's end.
    late = raw[raw["PAY_0"] >= 2].iloc[0]
    hers = rep[rep["loan_id"] == f"TW{int(late['ID'])}"]
    aug = hers[hers["due_date"] == pd.Timestamp("2005-08-15")]
    paid_by_september = aug.loc[aug["paid_date"] <= pd.Timestamp("2005-09-30"), "amount_paid"]
    assert paid_by_september.sum() < aug["amount_due"].iloc[0]  # not fully paid
    assert len(tables["outcomes"]) == len(raw) and tables["outcomes"]["as_of"].nunique() == 1


@pytest.mark.slow
def test_taiwan_example_runs_with_its_settings_only(tmp_path: Path) -> None:
    convert = convert_module()
    export = tmp_path / "export"
    export.mkdir()
    for table, frame in convert.convert(raw_sample(3000)).items():
        frame.to_parquet(export / f"{table}.parquet", index=False)
    folder = new_project(tmp_path / "project")
    overrides = yaml.safe_load((EXAMPLE / "params.yaml").read_text())
    overrides["data"]["source"] = str(export)
    for section, values in overrides.items():
        set_params(folder, **{section: values})
    with inside(folder):
        run_pipeline(folder, until="evaluate")
    dictionary = json.loads((folder / "data/features/dictionary.json").read_text())
    assert dictionary["stmt_util_k1"]["available"] and dictionary["dpd_1m_ago"]["available"]
    split = json.loads((folder / "reports/split.json").read_text())
    assert split["kind"] == "random_by_customer" and "one as_of" in split["reason"]
    train = json.loads((folder / "reports/train.json").read_text())
    assert train["features_screened_out"] >= 1  # e.g. months_on_book: one value for all
    metrics = json.loads((folder / "reports/metrics.json").read_text())
    assert metrics["test"]["auc"] > 0.72, metrics["test"]["auc"]
