"""Stages explain and model_card, and the analyst notebooks, on one small pipeline run."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from creditrisk.models.pyfunc import load_scorer_folder
from creditrisk.models.strategy import decision_tables
from tests.pipeline_run import (
    LOCK_HASHES,
    PSEUDONYM_KEY,
    execute_notebook,
    inside,
    session_base,
    shared_run,
)

# Every test here runs on a whole small pipeline run (notebooks included).
pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Path]:
    """The session's shared small run (read only here)."""
    folder = shared_run(session_base(tmp_path_factory, worker_id))
    with inside(folder):
        yield folder


def test_explain_outputs(run: Path) -> None:
    out = run / "reports/explain"
    importance = pd.read_csv(out / "importance.csv")
    assert importance["mean_abs_shap"].is_monotonic_decreasing
    assert importance["share"].sum() == pytest.approx(1.0)
    assert list(importance["rank"]) == list(range(1, len(importance) + 1))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["additivity_max_error"] < 1e-9
    assert summary["pred_contrib_max_difference"] < 1e-9
    assert summary["top_features"][0] == importance["feature"].iloc[0]
    for name in ("importance", "beeswarm", "reason_frequency"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name
    # Two dependence plots (params in the test project), for the two most important features.
    top2 = importance["feature"].head(2)
    assert sorted(p.stem for p in out.glob("dependence_*.png")) == sorted(
        f"dependence_{f}" for f in top2
    )

    decisions = pd.read_parquet(run / "data/explain/decisions.parquet")
    test = pd.read_parquet(run / "data/split/test.parquet")
    assert len(decisions) == len(test)
    assert summary["rows_scored"] == len(test)
    frequency = pd.read_csv(out / "reason_frequency.csv")
    declined = int((decisions["credit_limit"] <= 0).sum())
    limited = int(
        (
            (decisions["credit_limit"] > 0)
            & decisions["limit_policy"].isin(["model:expected_loss_budget", "formula:grade_base"])
        ).sum()
    )
    counted = frequency.groupby("outcome")["customers"].first()
    assert counted["all"] == len(decisions)
    assert counted["declined_or_limited"] == declined + limited
    assert summary["outcomes"].get("declined", 0) == declined
    # The most frequent first reason among all customers, counted directly.
    top_first = decisions["reason_1"].value_counts()
    all_rows = frequency[frequency["outcome"] == "all"].set_index("reason")
    assert all_rows.loc[top_first.index[0], "first_reason"] == top_first.iloc[0]


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts), 2)}


def test_model_card_is_complete_with_the_runs_figures(run: Path) -> None:
    from creditrisk.reports.model_card import SECTIONS

    text = (run / "reports/model_card.md").read_text()
    sections = _sections(text)
    assert list(sections) == list(SECTIONS)
    for title, body in sections.items():
        assert len(body) > 80, f"section '{title}' is nearly empty"
    for placeholder in ("TODO", "TBD", "nan", "None", "{", "}"):
        assert placeholder not in text, placeholder

    metrics = json.loads((run / "reports/metrics.json").read_text())
    export = json.loads((run / "reports/export.json").read_text())
    split = json.loads((run / "reports/split.json").read_text())
    assert f"{metrics['test']['auc']:.4f}" in sections["Out-of-time performance"]
    assert f"{metrics['challenger']['test']['auc']:.4f}" in sections["Out-of-time performance"]
    assert f"{metrics['oracle']['test']['auc']:.4f}" in sections["Out-of-time performance"]
    assert f"{metrics['test']['ece']:.4f}" in sections["Calibration"]
    assert f"{metrics['psi']['score']:.4f}" in sections["Stability"]
    assert export["run_id"] in sections["Data lineage"]
    assert f"version {export['model_version']}" in text
    for path, digest in LOCK_HASHES.items():
        assert f"`{path}`" in sections["Data lineage"] and digest in sections["Data lineage"]
    assert f"{split['test']['rows']}" in sections["Population and time periods"]
    assert "90 or more days past due within 12 months" in sections["Label definition"]
    for rule in export["rating_rules"]:
        assert rule in sections["Grades and limit policy"]
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())
    assert dictionary["dpd_current"]["reason"] in sections["Explanations and reason codes"]
    assert "gender" in sections["Fairness"] and "age at as_of" in sections["Fairness"]
    html = (run / "reports/model_card.html").read_text()
    assert "<table>" in html and "<h2>Fairness</h2>" in html


def test_fairness_compares_protected_groups(run: Path) -> None:
    table = pd.read_csv(run / "reports/fairness.csv")
    decisions = pd.read_parquet(run / "data/explain/decisions.parquet")
    customers = pd.read_parquet(run / "data/validated/customers.parquet")
    joined = decisions.merge(customers[["customer_id", "gender"]], on="customer_id")
    for group, part in joined.groupby("gender"):
        row = table[(table["attribute"] == "gender") & (table["group"] == group)].iloc[0]
        assert row["n"] == len(part)
        assert row["approval_rate"] == pytest.approx((part["credit_limit"] > 0).mean())
        assert row["mean_limit"] == pytest.approx(part["credit_limit"].mean())
    ages = table[table["attribute"].str.startswith("age")]
    assert ages["n"].sum() == len(decisions)
    metrics = json.loads((run / "reports/fairness.json").read_text())
    judged = table[table["n"] >= 100]
    expected_flags = judged["flags"].fillna("").str.len().gt(0).sum()
    assert metrics["groups_flagged"] == expected_flags


def test_no_raw_customer_id_in_any_report(run: Path) -> None:
    from creditrisk.governance.pseudonym import pseudonym

    ids = set(pd.read_parquet(run / "data/validated/customers.parquet")["customer_id"])
    pattern = re.compile(r"C\d{7}")
    for path in (run / "reports").rglob("*"):
        if path.suffix in (".md", ".html", ".csv", ".json"):
            found = set(pattern.findall(path.read_text())) & ids
            assert not found, f"{path} shows customer ids {sorted(found)[:3]}"
    card = (run / "reports/model_card.md").read_text()
    shown = re.search(r"Customer `([0-9a-f]{16})`", card)
    assert shown is not None
    decisions = pd.read_parquet(run / "data/explain/decisions.parquet")
    key = PSEUDONYM_KEY.encode()
    assert shown.group(1) in {pseudonym(c, key) for c in decisions["customer_id"]}


@pytest.mark.parametrize(
    ("name", "min_images"),
    [("01-model-report.ipynb", 4), ("02-explanations.ipynb", 6), ("04-strategy.ipynb", 4)],
)
def test_notebook_executes_and_shows_plots(run: Path, name: str, min_images: int) -> None:
    images = execute_notebook(NOTEBOOKS / name, run)
    assert len(images) >= min_images


def test_strategy_reports(run: Path) -> None:
    r = run / "reports"
    cutoffs = pd.read_csv(r / "strategy/cutoffs.csv")
    assert cutoffs["pd_cutoff"].is_monotonic_increasing
    assert cutoffs["approval_rate"].is_monotonic_increasing
    assert cutoffs["policy_cutoff"].sum() == 1
    assert (cutoffs["bad_rate_ci_low"] <= cutoffs["bad_rate"]).all()
    assert cutoffs["approval_rate"].iloc[-1] == 1.0  # PD <= 1 approves everyone
    grades = pd.read_csv(r / "strategy/grades.csv")
    params = yaml.safe_load((run / "params.yaml").read_text())
    assert grades["grade"].tolist() == [g["grade"] for g in params["grades"]]  # S included
    assert {"model_mean_limit", "formula_mean_limit", "model_expected_loss"} <= set(grades)
    assert grades["count"].sum() == cutoffs["approved"].iloc[-1]
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())
    iv = pd.read_csv(r / "iv.csv")
    available = {f for f, e in dictionary.items() if e["available"]}
    assert set(iv["feature"]) == available  # every available feature
    assert (iv["iv"] >= 0).all() and iv["iv"].is_monotonic_decreasing
    vintage = pd.read_csv(r / "vintage.csv")
    assert len(vintage) and vintage["ever_90_plus"].le(vintage["ever_30_plus"]).all()
    rolls = pd.read_csv(r / "roll_rates.csv")
    shares = rolls.groupby("from_bucket")["share"].sum()
    assert ((shares - 1).abs() < 1e-9).all()
    summary = json.loads((r / "strategy/summary.json").read_text())
    assert summary["approval_rate_monotone"] and summary["definition"]["statement"]
    card = (r / "model_card.md").read_text()
    assert "## Credit strategy" in card and summary["definition"]["statement"] in card


def test_strategy_tables_in_batches_equal_the_whole_period(run: Path) -> None:
    """The stage decides the test period in batches; any split of the rows gives the same
    tables as the period whole (uneven batches, one of them a single row)."""
    model = load_scorer_folder(run / "data/candidate")
    test = pd.read_parquet(run / "data/split/test.parquet")
    whole = decision_tables(model, test, cutoffs=(0.02, 0.1, 1.0))
    edges = [0, 1, len(test) // 3, len(test) // 3 + 7, len(test)]
    batches = (test.iloc[a:b] for a, b in itertools.pairwise(edges))
    batched = decision_tables(model, batches, cutoffs=(0.02, 0.1, 1.0))
    for left, right in zip(whole, batched, strict=True):
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12)
    assert whole[0]["approved"].iloc[-1] == len(test)
    with pytest.raises(ValueError, match="no batch"):
        decision_tables(model, iter([]), cutoffs=(0.02,))


def test_reasons_have_a_direction_distinct_groups_and_specific_texts(run: Path) -> None:
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())
    scores = pd.read_parquet(run / "data/scores/scores.parquet")
    codes = [c for c in scores.columns if re.fullmatch(r"reason_\d+", c)]
    texts = [c for c in scores.columns if re.fullmatch(r"reason_text_\d+", c)]
    named = scores[codes].stack().dropna()
    assert len(named) > len(scores)  # most customers get reasons
    assert all(dictionary[f]["direction"] != 0 for f in named.unique())
    groups = scores[codes].apply(
        lambda c: c.map(lambda f: dictionary.get(f, {}).get("reason_group"))
    )
    for _, row in groups.iterrows():
        present = [g for g in row if g is not None and not pd.isna(g)]
        assert len(present) == len(set(present))
    all_texts = set(scores[texts].stack().dropna())
    assert all_texts and not [t for t in all_texts if re.match(r"Value of ", t)]
    assert all(len(t.split()) >= 4 for t in all_texts)
    capped = scores["limit_policy"].isin(["model:repayment_capacity", "model:product_max"])
    assert capped.any() and scores.loc[capped, "limit_reason"].notna().all()


def test_recourse_reaches_its_target_grade_through_the_pyfunc_model(run: Path) -> None:
    """Each suggestion, applied to its feature row as it is, scores through the exported
    model without a cast: every value has the type of the scorer's input column."""
    import mlflow.pyfunc

    from creditrisk.models.recourse import apply_changes

    recourse = pd.read_parquet(run / "data/explain/recourse.parquet")
    assert len(recourse) > 20
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())
    model = mlflow.pyfunc.load_model(str(run / "data/candidate"))
    schema = model.metadata.get_input_schema()
    kinds = {c.name: str(c.type).removeprefix("DataType.") for c in schema.inputs}
    python_type = {"long": int, "integer": int, "double": float, "float": float}
    for text in recourse["changes"]:
        for f, v in json.loads(text).items():
            assert dictionary[f]["actionable"]
            assert type(v) is python_type[kinds[f]], (f, v, kinds[f])
    test = pd.read_parquet(run / "data/split/test.parquet")
    changed = apply_changes(test, recourse)
    inputs = list(kinds)
    assert (changed[inputs].dtypes == test[inputs].dtypes).all()
    got = model.predict(changed[inputs])["grade"]
    order = {
        g["grade"]: i
        for i, g in enumerate(yaml.safe_load((run / "params.yaml").read_text())["grades"])
    }
    assert (got.map(order).to_numpy() <= recourse["target_grade"].map(order).to_numpy()).all()
    assert (recourse["target_grade"].map(order) < recourse["grade"].map(order)).all()
    before = apply_changes(test, recourse.assign(changes="{}"))
    for i, text in enumerate(recourse["changes"]):  # every change moves toward lower risk
        for f, v in json.loads(text).items():
            assert (v - before.loc[i, f]) * dictionary[f]["direction"] < 0


def test_recourse_of_a_batch_is_each_row_searched_alone(run: Path) -> None:
    """The search steps all rows together (one model call per lever and step); each row
    still gets exactly the change it gets when searched on its own, combined levers
    included, and the summary says how many decisions were searched."""
    from creditrisk.models.pyfunc import load_scorer_folder
    from creditrisk.models.recourse import find_recourse, levers

    scorer = load_scorer_folder(run / "data/candidate")
    test = pd.read_parquet(run / "data/split/test.parquet")
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())
    grid = levers(scorer, dictionary, test)
    decisions = pd.read_parquet(run / "data/explain/decisions.parquet")
    worst = decisions.nlargest(150, "pd")[["customer_id", "as_of"]]
    rows = test.merge(worst, on=["customer_id", "as_of"])
    batch = find_recourse(scorer, rows, grid)
    alone = pd.concat(
        [find_recourse(scorer, rows.iloc[[i]], grid) for i in range(len(rows))],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(batch, alone, check_dtype=False)
    combined = batch["changes"].map(lambda t: len(json.loads(t)) > 1)
    assert combined.any() and (~combined).any()  # both kinds of search are compared
    summary = json.loads((run / "reports/explain/summary.json").read_text())
    recourse = pd.read_parquet(run / "data/explain/recourse.parquet")
    assert summary["recourse_found"] == len(recourse) <= summary["recourse_searched"]
    assert summary["recourse_searched"] == summary["recourse_declined_or_limited"] > 0


def test_recourse_beyond_the_cap_is_a_seeded_sample(run: Path) -> None:
    from creditrisk.models.pyfunc import load_scorer_folder
    from pipelines.explain import _recourse

    scorer = load_scorer_folder(run / "data/candidate")
    period = run / "data/split/test.parquet"
    test = (period, pd.read_parquet(period, columns=["customer_id", "as_of"]))
    decisions = pd.read_parquet(run / "data/explain/decisions.parquet")
    dictionary = json.loads((run / "data/features/dictionary.json").read_text())

    def sample(seed: int) -> tuple[pd.DataFrame, int, int]:
        args = (run / "data/candidate", scorer, test, decisions, dictionary)
        return _recourse(*args, max_rows=40, seed=seed)

    (first, searched, declined), (again, _, _), (other, _, _) = sample(1), sample(1), sample(2)
    assert searched == 40 < declined
    assert 0 < len(first) <= 40
    pd.testing.assert_frame_equal(first, again)  # the same seed, the same sample
    assert set(first["customer_id"]) != set(other["customer_id"])
    full = pd.read_parquet(run / "data/explain/recourse.parquet")
    kept = full.merge(first[["customer_id", "as_of"]], on=["customer_id", "as_of"])
    pd.testing.assert_frame_equal(kept, first, check_dtype=False)  # as in the full search


def test_scored_decisions_carry_recourse_into_the_log(run: Path) -> None:
    from creditrisk.governance.decision_log import describe

    scores = pd.read_parquet(run / "data/scores/scores.parquet")
    assert scores["recourse_changes"].notna().any()
    features = pd.read_parquet(run / "data/split/test.parquet")
    for text in scores["recourse_changes"].dropna():  # typed like the feature table
        for f, v in json.loads(text).items():
            whole = pd.api.types.is_integer_dtype(features[f].dtype)
            assert type(v) is (int if whole else float), (f, v)
    log = pd.concat(
        pd.read_parquet(p) for p in sorted((run / "data/decision_log").rglob("*.parquet"))
    )
    with_recourse = log[log["recourse_changes"] != ""]
    assert len(with_recourse)
    text = describe(with_recourse.iloc[0].to_dict())
    assert f"what would reach grade {with_recourse.iloc[0]['recourse_target_grade']}" in text
