"""Stage tests: generate, ingest, validate through main(), in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from creditrisk.contract import ContractError
from pipelines import generate, ingest, validate
from tests.conftest import set_params


@pytest.fixture
def small(project: Path) -> Path:
    set_params(project, generate={"n_customers": 300})
    return project


def _generate_and_ingest(project: Path) -> None:
    generate.main(project / "data/synthetic/raw", project / "data/synthetic/truth.parquet")
    ingest.main(
        project / "data/synthetic/raw", project / "data/raw", project / "reports/ingest.json"
    )


def test_synthetic_run_validates_cleanly(small: Path) -> None:
    _generate_and_ingest(small)
    validate.main(
        small / "data/raw",
        small / "data/validated",
        small / "data/quarantine",
        small / "reports/validation",
    )
    summary = json.loads((small / "reports/validation/summary.json").read_text())
    assert summary["reconciled"] and summary["rows_quarantined"] == 0
    assert summary["tables"]["customers"]["rows_in"] == 300
    assert summary["absent_tables"] == ["outcomes"]
    truth = pd.read_parquet(small / "data/synthetic/truth.parquet")
    assert truth["true_pd"].between(0, 1).all() and len(truth) > 300
    raw_dir = sorted(p.name for p in (small / "data/raw").iterdir())
    assert raw_dir == [
        "customers.parquet",
        "loans.parquet",
        "repayments.parquet",
        "transactions.parquet",
    ]
    assert not (small / "data/raw/truth.parquet").exists()  # the oracle never enters the raw data


def test_generate_is_byte_stable(small: Path) -> None:
    out_a, out_b = small / "a", small / "b"
    generate.main(out_a, small / "ta.parquet")
    generate.main(out_b, small / "tb.parquet")
    for name in ("customers", "transactions", "loans", "repayments"):
        assert (out_a / f"{name}.parquet").read_bytes() == (out_b / f"{name}.parquet").read_bytes()
    assert (small / "ta.parquet").read_bytes() == (small / "tb.parquet").read_bytes()


def test_ingest_maps_csv_exports(project: Path, tiny_tables: dict[str, pd.DataFrame]) -> None:
    source = project / "exports"
    source.mkdir()
    tx = tiny_tables["transactions"].rename(columns={"ts": "purchase_time", "amount": "gross"})
    tx.to_csv(source / "purchases.csv", index=False)
    for name in ("customers", "loans", "repayments"):
        tiny_tables[name].to_csv(source / f"{name}.csv", index=False)
    set_params(
        project,
        data={
            "source": str(source),
            "files": {"transactions": "purchases.csv"},
            "columns": {"transactions": {"ts": "purchase_time", "amount": "gross"}},
        },
        features={"static": ["income_monthly"], "protected": ["birth_year"]},
        validate={"max_quarantine_share": 0.7},
    )
    ingest.main(source, project / "data/raw", project / "reports/ingest.json")
    validate.main(
        project / "data/raw",
        project / "data/validated",
        project / "data/quarantine",
        project / "reports/validation",
    )
    tx_out = pd.read_parquet(project / "data/validated/transactions.parquet")
    assert tx_out["amount"].tolist() == [120.0, 300.0, 45.5]
    assert tx_out["ts"].iloc[1] == pd.Timestamp("2023-04-02 12:30")
    rep = pd.read_parquet(project / "data/validated/repayments.parquet")
    assert rep["paid_date"].isna().sum() == 1 and len(rep) == 4
    report = json.loads((project / "reports/ingest.json").read_text())
    assert report["transactions"] == {"file": "purchases.csv", "rows": 3}
    assert report["absent_tables"] == ["outcomes"]


def test_ingest_names_a_wrong_mapping(project: Path, tiny_tables: dict[str, pd.DataFrame]) -> None:
    source = project / "exports"
    source.mkdir()
    for name, frame in tiny_tables.items():
        frame.to_parquet(source / f"{name}.parquet", index=False)
    set_params(project, data={"source": str(source), "columns": {"transactions": {"ts": "when"}}})
    with pytest.raises(ContractError, match=r"data\.columns\.transactions\.ts: 'when' is not"):
        ingest.main(source, project / "data/raw", project / "reports/ingest.json")


def test_ingest_requires_a_label_source(
    project: Path, tiny_tables: dict[str, pd.DataFrame]
) -> None:
    source = project / "exports"
    source.mkdir()
    tiny_tables["customers"].to_parquet(source / "customers.parquet", index=False)
    set_params(project, data={"source": str(source)})
    with pytest.raises(ContractError, match="labels cannot be made"):
        ingest.main(source, project / "data/raw", project / "reports/ingest.json")


def test_features_and_split_stages(small: Path) -> None:
    from pipelines import features, split

    _generate_and_ingest(small)
    validate.main(
        small / "data/raw",
        small / "data/validated",
        small / "data/quarantine",
        small / "reports/validation",
    )
    features.main(
        small / "data/validated", small / "data/features", small / "reports/features.json"
    )
    feats = pd.read_parquet(small / "data/features/features.parquet")
    dictionary = json.loads((small / "data/features/dictionary.json").read_text())
    report = json.loads((small / "reports/features.json").read_text())
    available = [name for name, entry in dictionary.items() if entry["available"]]
    assert report["rows"] == len(feats) and report["features"] == len(available)
    # Features needing a column the data lacks are listed, marked unavailable.
    assert dictionary["outstanding_to_credit_line"]["available"] is False
    assert set(available) <= set(feats.columns)
    assert not {"gender", "birth_year"} & set(feats.columns)
    assert not feats.duplicated(["customer_id", "as_of"]).any()
    # Same data, same features to the bit: float sums run in parallel must not leak their
    # adding order into the features (and from there into the model).
    features.main(small / "data/validated", small / "again", small / "reports/again.json")
    again = small / "again/features.parquet"
    assert again.read_bytes() == (small / "data/features/features.parquet").read_bytes()
    split.main(
        small / "data/features/features.parquet", small / "data/split", small / "reports/split.json"
    )
    summary = json.loads((small / "reports/split.json").read_text())
    assert summary["kind"] == "out_of_time"
    parts = {
        n: pd.read_parquet(small / f"data/split/{n}.parquet")
        for n in ("train", "calibration", "test")
    }
    assert parts["train"]["as_of"].max() < parts["calibration"]["as_of"].min()
    assert parts["calibration"]["as_of"].max() < parts["test"]["as_of"].min()
    labelled = int(feats["label_complete"].sum())
    assert sum(len(p) for p in parts.values()) + summary["unlabelled_rows"] == len(feats)
    assert sum(len(p) for p in parts.values()) <= labelled
