"""Check the settings against the source folder and list every problem at once.

Run it before ``dvc repro`` on a new export (the ingest stage runs the same check first
and stops on its errors):

    python -m pipelines.support.check [--params params.yaml]

It prints each table's rows and date range, then every problem: unknown or misspelt
params keys, missing tables and columns (with the closest column name), mapping typos,
static or protected columns that do not exist, values of the wrong type, events after the
data's end, and rules that name features the data cannot compute. Exit status 1 when a
problem would stop the run (an error); warnings (rows to be quarantined, a rule or an
attribute left out) do not.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from creditrisk.contract import TABLES
from creditrisk.settings_check import (
    CheckResult,
    Problem,
    Severity,
    SourceSettings,
    TableSummary,
    check_source,
)
from pipelines.support.logs import setup_logging
from pipelines.support.params import PARAMS_FILE, Params, ParamsError, load_params

log = logging.getLogger("pipelines.support.check")


def source_settings(params: Params, *, with_rules: bool = True) -> SourceSettings:
    """The settings that describe the source folder, from params; ``with_rules`` adds the
    rating and warning rules (checked for features this data cannot compute)."""
    d = params.data
    rules: dict[str, list[str]] = {}
    if with_rules:
        for where, group in (
            ("policy.rating_rules", params.policy.rating_rules),
            ("monitor.rules", params.monitor.rules),
        ):
            rules |= {f"{where}.{r.name}": [c.feature for c in r.when] for r in group}
    return SourceSettings(
        end_date=d.end_date,
        files=d.files,
        columns=d.columns,
        derive=d.derive,
        select=d.select,
        static=params.features.static,
        protected=params.features.protected,
        static_reasons=tuple(params.features.static_reasons),
        max_bad_share=params.validate_.max_quarantine_share,
        rule_features=rules,
        windows=params.features.windows_days if with_rules else (),
        split_periods=params.split.periods(),
        as_of_dates=params.features.as_of_dates(),
        horizon_months=params.labels.horizon_months,
    )


def find_source_file(folder: Path, table: str, files: dict[str, str]) -> Path | None:
    """The file holding ``table`` in ``folder`` (named in data.files, else
    ``<table>.parquet`` or ``<table>.csv``), or None when there is none. A named file that
    is missing is one of the check's errors, so ingest never reads past it."""
    if table in files:
        path = folder / files[table]
        return path if path.exists() else None
    for suffix in (".parquet", ".csv"):
        if (folder / f"{table}{suffix}").exists():
            return folder / f"{table}{suffix}"
    return None


def read_source(path: Path) -> pd.DataFrame:
    """A source file; CSV columns as text, so a malformed value reaches validate intact."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return pd.read_parquet(path)


def run_checks(params: Params, folder: Path, *, with_rules: bool = True) -> CheckResult:
    """Every problem of the settings against ``folder``, and what each table holds
    (``with_rules``: also rules naming features the data cannot compute, a warning)."""
    if not folder.is_dir():
        problem = Problem(Severity.ERROR, "data.source", f"{folder} is not a folder")
        return CheckResult([problem], [])
    found = {t: find_source_file(folder, t, params.data.files) for t in TABLES}
    raw = {t: (read_source(p) if p is not None else None) for t, p in found.items()}
    names = {t: p.name for t, p in found.items() if p is not None}
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    settings = source_settings(params, with_rules=with_rules)
    return check_source(raw, names, settings, files_in_folder=files)


def describe(problems: list[Problem], summaries: list[TableSummary], split: str = "") -> str:
    """The check's report: tables at a glance, then the problems, errors first."""
    lines = ["tables:"]
    lines += [
        f"  {s.table:<12} {s.file:<28} {s.rows:>12,} rows  {s.first} .. {s.last}" for s in summaries
    ]
    if split:
        lines.append(f"split: {split}")
    ordered = sorted(problems, key=lambda p: p.severity is not Severity.ERROR)
    errors = sum(p.severity is Severity.ERROR for p in problems)
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s)")
    lines += [f"  {i}. {p}" for i, p in enumerate(ordered, start=1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=PARAMS_FILE)
    a = ap.parse_args(argv)
    try:
        params = load_params(a.params)
    except ParamsError as exc:
        print(f"the settings themselves have errors (fix these first):\n{exc}")
        return 1
    problems, summaries, split = run_checks(params, Path(params.data.source))
    print(f"data.source {params.data.source}, data.end_date {params.data.end_date}")
    print(describe(problems, summaries, split))
    return 1 if any(p.severity is Severity.ERROR for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
