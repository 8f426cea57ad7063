"""Every settings problem of a lender's export at once: the tables of a source folder
checked against the raw contract and the settings that name their columns.

:func:`check_source` takes the tables as read (before any mapping) and plain settings and
returns a list of :class:`Problem`; errors would stop the run, warnings would not (rows
that fail are quarantined, rules that cannot apply are left out). Nothing here reads
files: ``pipelines/support/check.py`` does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

import pandas as pd

from creditrisk.contract import TABLES, ContractError, Kind, TableSpec
from creditrisk.features.dictionary import feature_sources
from creditrisk.features.labels import as_of_frame
from creditrisk.features.split import choose_periods
from creditrisk.ingest import derive_columns, map_columns
from creditrisk.validation.coerce import convert


class Severity(StrEnum):
    ERROR = "error"  # the run would stop
    WARNING = "warning"  # the run goes on: rows quarantined, a rule or attribute left out


@dataclass(frozen=True)
class Problem:
    """One problem: where it is (a settings key or a table column) and what to do."""

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.where}: {self.message}"


@dataclass(frozen=True)
class SourceSettings:
    """The settings that describe a source folder (the data section and a few others)."""

    end_date: date
    files: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    derive: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    select: Mapping[str, Sequence[str]] = field(default_factory=dict)
    static: Sequence[str] = ()
    protected: Sequence[str] = ()
    static_reasons: Sequence[str] = ()  # columns given a risk direction and reason
    max_bad_share: float = 0.2
    windows: tuple[int, ...] = (30, 90, 180, 365)
    rule_features: Mapping[str, Sequence[str]] = field(default_factory=dict)  # rule -> names
    # The split: periods set by hand (None: chosen from the data) and, for derived labels,
    # the snapshot dates the features stage uses (features.as_of_dates()).
    split_periods: Mapping[str, tuple[date, date]] | None = None
    as_of_dates: Sequence[date] = ()
    horizon_months: int = 12


@dataclass(frozen=True)
class TableSummary:
    """What a table holds: rows, and the first and last date of its event column."""

    table: str
    file: str
    rows: int
    first: str
    last: str


class CheckResult(NamedTuple):
    """The check's findings: every problem, what each table holds, the split in words."""

    problems: list[Problem]
    summaries: list[TableSummary]
    split: str = ""


def closest(name: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices``, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    if not match:
        lowered = {c.lower(): c for c in choices}
        match = [lowered[name.lower()]] if name.lower() in lowered else []
    return f" (did you mean '{match[0]}'?)" if match else ""


EVENT_DATES = {  # the date a table's first-and-last summary shows
    "customers": "created_at",
    "transactions": "ts",
    "loans": "opened_at",
    "repayments": "due_date",
    "outcomes": "as_of",
}
# Dates that validate quarantines after the data's end (an installment may fall due later:
# the schedule is known in advance; a payment may not be made later).
NOT_AFTER_END = {**EVENT_DATES, "repayments": "paid_date"}


def check_source(
    raw: Mapping[str, pd.DataFrame | None],
    file_names: Mapping[str, str],
    s: SourceSettings,
    *,
    files_in_folder: Sequence[str],
) -> CheckResult:
    """Check every table of a source folder against the contract and the settings.

    Args:
        raw: each contract table as read from its file (None when the folder lacks it).
        file_names: the file each present table was read from.
        s: the settings.
        files_in_folder: every file name in the folder (to suggest a misspelt one).
    """
    problems: list[Problem] = []
    for table, name in s.files.items():
        if raw.get(table) is None:
            problems.append(
                Problem(
                    Severity.ERROR,
                    f"data.files.{table}",
                    f"file '{name}' is not in the folder{closest(name, files_in_folder)}",
                )
            )
    problems += _table_set(raw, s)
    summaries: list[TableSummary] = []
    mapped: dict[str, pd.DataFrame] = {}
    for table, frame in raw.items():
        if frame is None:
            continue
        shaped, found = _shape(table, frame, s)
        problems += found
        if shaped is None:
            continue
        mapped[table] = shaped
        problems += _types(table, shaped, TABLES[table], s)
        summaries.append(_summary(table, file_names[table], shaped))
    problems += _customer_columns(mapped.get("customers"), s)
    problems += _dates(mapped, s)
    problems += _rules(s, set(mapped))
    split, found = planned_split(mapped, s)
    return CheckResult(problems + found, summaries, split)


def planned_split(
    tables: Mapping[str, pd.DataFrame], s: SourceSettings
) -> tuple[str, list[Problem]]:
    """The split the split stage will use, in words, and a period set by hand that covers
    no labelled snapshot date (an error: that split would be empty).

    With outcomes, their (valid) rows are the labelled snapshots, so the choice is the
    split stage's own. With derived labels, the labelled dates are the monthly snapshot
    dates whose label window ends by the data's end; the stage then chooses the periods
    from the labelled counts.
    """
    outcomes = tables.get("outcomes")
    if outcomes is not None and {"as_of", "default"} <= set(outcomes.columns):
        when = convert(outcomes["as_of"], Kind.TIMESTAMP)
        label = pd.to_numeric(outcomes["default"], errors="coerce")
        ok = when.notna() & label.isin([0, 1])
        dates = when[ok].dt.normalize()
        labels: pd.Series | None = label[ok]
    elif s.as_of_dates:
        # Labelled: the label window ends by the data's end (as the features stage labels).
        grid = as_of_frame(s.as_of_dates, horizon_months=s.horizon_months)
        dates = grid.loc[grid["window_end"] <= pd.Timestamp(s.end_date), "as_of"]
        labels = None
    else:
        return "not known (no outcomes and no snapshot dates)", []
    distinct = sorted(dates.unique())
    if not distinct:
        return "none: no labelled snapshot", [
            Problem(
                Severity.ERROR,
                "split",
                "no snapshot has a complete label: no outcomes with a 0/1 default, or no "
                "monthly as_of whose label window ends by data.end_date",
            )
        ]
    span = f"{len(distinct)} labelled as_of date(s), {distinct[0].date()} .. {distinct[-1].date()}"
    if s.split_periods is not None:
        return _hand_set(s.split_periods, distinct, span)
    if labels is None:
        how = "out of time, periods chosen from the labelled snapshots (about 60/20/20%)"
        if len(distinct) < 3:
            how = "stratified random by customer (fewer than 3 as_of dates)"
        return f"{how}; {span}", []
    choice = choose_periods(dates.reset_index(drop=True), labels.reset_index(drop=True))
    if choice.periods is None:
        return f"stratified random by customer: {choice.reason}", []
    periods = ", ".join(f"{k} {a} .. {b}" for k, (a, b) in choice.periods.items())
    return f"out of time, chosen from the data: {periods} ({choice.reason})", []


def _hand_set(
    periods: Mapping[str, tuple[date, date]], distinct: Sequence[pd.Timestamp], span: str
) -> tuple[str, list[Problem]]:
    if len(distinct) == 1:
        return f"stratified random by customer (one as_of; split periods do not apply); {span}", []
    out = []
    for name, (a, b) in periods.items():
        if not any(pd.Timestamp(a) <= d <= pd.Timestamp(b) for d in distinct):
            out.append(
                Problem(
                    Severity.ERROR,
                    f"split.{name}",
                    f"the period {a} .. {b} covers no labelled snapshot ({span}); set it "
                    "to the data's dates, or all three split periods to null to have them "
                    "chosen from the data",
                )
            )
    text = ", ".join(f"{k} {a} .. {b}" for k, (a, b) in periods.items())
    return f"out of time, set by hand: {text}; {span}", out


def _table_set(raw: Mapping[str, pd.DataFrame | None], s: SourceSettings) -> list[Problem]:
    present = {t for t, f in raw.items() if f is not None}
    out = []
    if "customers" not in present:
        out.append(
            Problem(
                Severity.ERROR,
                "tables",
                "customers is required: a customers.csv or .parquet file, or data.files.customers",
            )
        )
    if "repayments" not in present and "outcomes" not in present:
        out.append(
            Problem(
                Severity.ERROR,
                "tables",
                "labels cannot be made: provide repayments (labels derived from late "
                "installments) or outcomes (explicit labels)",
            )
        )
    return out


def _shape(
    table: str, frame: pd.DataFrame, s: SourceSettings
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The table after data.columns, data.derive and data.select, with every problem (a
    table lacking a required column is still checked for the columns it has)."""
    problems = []
    mapping = dict(s.columns.get(table, {}))
    for contract, source in mapping.items():
        if source not in frame.columns:
            problems.append(
                Problem(
                    Severity.ERROR,
                    f"data.columns.{table}.{contract}",
                    f"'{source}' is not a column of the file{closest(source, list(frame.columns))}",
                )
            )
    usable = {k: v for k, v in mapping.items() if v in frame.columns}
    try:
        shaped = map_columns(frame, table, usable)
        shaped = derive_columns(shaped, table, s.derive.get(table, {}))
    except ContractError as exc:
        return None, [*problems, Problem(Severity.ERROR, f"data.derive.{table}", str(exc))]
    spec = TABLES[table]
    for column in spec.columns:
        if column not in shaped.columns:
            hint = closest(column, [c for c in frame.columns if c not in usable.values()])
            problems.append(
                Problem(
                    Severity.ERROR,
                    f"{table}.{column}",
                    f"required column missing{hint}; map it with data.columns.{table}."
                    f"{column}: <column in your file>",
                )
            )
    select = list(s.select.get(table, []))
    absent = [c for c in select if c not in shaped.columns]
    if absent:
        problems.append(
            Problem(Severity.ERROR, f"data.select.{table}", f"keeps {absent}, which it lacks")
        )
    return shaped, problems


def _types(table: str, frame: pd.DataFrame, spec: TableSpec, s: SourceSettings) -> list[Problem]:
    out = []
    for column, kind in spec.typed_columns.items():
        if column not in frame.columns or not len(frame):
            continue
        # validate's own conversion, so the check and the run agree on every value
        bad = frame[column].notna() & convert(frame[column], kind).isna()
        if not bad.any():
            continue
        present = int(frame[column].notna().sum())
        share = float(bad.sum()) / present
        examples = ", ".join(repr(v) for v in frame.loc[bad, column].head(3))
        severity = Severity.ERROR if share > s.max_bad_share else Severity.WARNING
        out.append(
            Problem(
                severity,
                f"{table}.{column}",
                f"{int(bad.sum()):,} of {present:,} values are not {kind} values (e.g. "
                f"{examples})"
                + (
                    f"; above validate.max_quarantine_share {s.max_bad_share:g}, the run stops"
                    if severity is Severity.ERROR
                    else "; those rows will be quarantined"
                ),
            )
        )
    return out


def _customer_columns(customers: pd.DataFrame | None, s: SourceSettings) -> list[Problem]:
    if customers is None:
        return []
    cols = list(customers.columns)
    out = []
    for key, names, severity, effect in (
        ("features.static", s.static, Severity.ERROR, "the features stage would stop"),
        ("features.protected", s.protected, Severity.WARNING, "it is left out of fairness"),
    ):
        for name in names:
            if name not in cols:
                out.append(
                    Problem(
                        severity,
                        key,
                        f"'{name}' is not a column of customers{closest(name, cols)}; {effect}",
                    )
                )
    for name in s.static_reasons:
        if name not in s.static:
            out.append(
                Problem(
                    Severity.WARNING,
                    f"features.static_reasons.{name}",
                    f"'{name}' is not in features.static; its direction and reason are unused",
                )
            )
    return out


def _dates(tables: Mapping[str, pd.DataFrame], s: SourceSettings) -> list[Problem]:
    """Events after the data's end (snapshots: after the day after it) are quarantined."""
    out = []
    end = pd.Timestamp(s.end_date) + pd.Timedelta(days=1)
    for table, column in NOT_AFTER_END.items():
        frame = tables.get(table)
        if frame is None or column not in frame.columns or not len(frame):
            continue
        when = convert(frame[column], Kind.TIMESTAMP)
        limit = end + pd.Timedelta(days=1) if table == "outcomes" else end
        late = when >= limit
        if not late.any():
            continue
        share = float(late.mean())
        last = (limit - pd.Timedelta(days=1)).date()
        severity = Severity.ERROR if share > s.max_bad_share else Severity.WARNING
        out.append(
            Problem(
                severity,
                f"{table}.{column}",
                f"{int(late.sum()):,} of {len(frame):,} rows are dated after {last} "
                f"(data.end_date {s.end_date}"
                + (", plus one day for a snapshot" if table == "outcomes" else "")
                + f"); the latest is {when.max().date()}. "
                + (
                    "Is data.end_date the extraction date of this export?"
                    if severity is Severity.ERROR
                    else "Those rows will be quarantined."
                ),
            )
        )
    return out


def _rules(s: SourceSettings, present: set[str]) -> list[Problem]:
    """Rating and warning rules naming features whose source table is absent."""
    if not s.rule_features:
        return []
    # Early-warning signals computed from the repayment history, beside the features;
    # customer columns, pd and the change signals are always there.
    sources = {**feature_sources(s.windows), "days_to_next_due": "repayments"}
    out = []
    for rule, names in s.rule_features.items():
        missing = sorted(
            {n for n in names if sources.get(n, "customers") not in (*present, "customers")}
        )
        if missing:
            out.append(
                Problem(
                    Severity.WARNING,
                    rule,
                    f"names {missing}, which this data cannot compute (their table is absent); "
                    "the rule is left out",
                )
            )
    return out


def _summary(table: str, file: str, frame: pd.DataFrame) -> TableSummary:
    column = EVENT_DATES[table]
    when = (
        convert(frame[column], Kind.TIMESTAMP)
        if column in frame.columns
        else pd.Series(dtype="object")
    )
    known = when.dropna()
    first = str(known.min().date()) if len(known) else "-"
    last = str(known.max().date()) if len(known) else "-"
    return TableSummary(table, file, len(frame), first, last)
