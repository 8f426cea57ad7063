"""Run a table's rules with Great Expectations and split its rows into kept and quarantined."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd

from creditrisk.contract import TableSpec
from creditrisk.validation.coerce import coerce_table
from creditrisk.validation.errors import TableValidationError
from creditrisk.validation.rules import Rule, add_helper_columns, drop_helper_columns, rules_for

log = logging.getLogger(__name__)

ROW = "source_row"  # position of a row in the raw file, kept in the quarantine
REASON = "quarantine_reason"


@dataclass(frozen=True)
class TableResult:
    """Outcome of validating one table.

    Attributes:
        kept: typed rows that passed every rule (contract columns plus extra columns).
        quarantined: failing rows with their original values, ``source_row`` and reasons.
        reasons: number of rows per reason (a row may have several).
        success: the Great Expectations suite result.
    """

    table: str
    kept: pd.DataFrame
    quarantined: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)
    success: bool = True

    @property
    def rows_in(self) -> int:
        return len(self.kept) + len(self.quarantined)

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_kept": len(self.kept),
            "rows_quarantined": len(self.quarantined),
            "reconciled": self.rows_in == len(self.kept) + len(self.quarantined),
            "expectations_passed": self.success,
            "reasons": dict(sorted(self.reasons.items())),
        }


def merged_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a table validated in batches, from its batches' summaries."""
    reasons: Counter[str] = Counter()
    for part in parts:
        reasons.update(part["reasons"])
    rows_in = sum(int(x["rows_in"]) for x in parts)
    kept = sum(int(x["rows_kept"]) for x in parts)
    quarantined = sum(int(x["rows_quarantined"]) for x in parts)
    return {
        "rows_in": rows_in,
        "rows_kept": kept,
        "rows_quarantined": quarantined,
        "reconciled": rows_in == kept + quarantined and all(x["reconciled"] for x in parts),
        "expectations_passed": all(x["expectations_passed"] for x in parts),
        "reasons": dict(sorted(reasons.items())),
        "batches": len(parts),
    }


def validate_table(
    context: Any,
    raw: pd.DataFrame,
    spec: TableSpec,
    *,
    parents: Mapping[str, pd.DataFrame],
    end_date: date,
    max_quarantine_share: float,
    n_examples: int = 5,
    first_row: int = 0,
    unique: np.ndarray | None = None,
    batch: str | None = None,
) -> TableResult:
    """Validate one raw table against the contract.

    Args:
        context: a Great Expectations data context; its Data Docs get this validation.
        raw: the table as ingested (any column types); its index is ignored.
        spec: the contract table.
        parents: kept rows of the tables ``raw`` refers to.
        end_date: the data's end; later events are quarantined.
        max_quarantine_share: above this share of failing rows the whole table stops.
        n_examples: example rows in an error.
        first_row: position in the raw file of ``raw``'s first row (a batch of a table
            validated in batches: quarantine and error rows keep their file positions).
        unique: per row, whether its key is unique over the whole table
            (:func:`~creditrisk.validation.rules.key_unique`); the suite then checks this
            flag instead of uniqueness within ``raw``.
        batch: the batch's name in Data Docs (default: the table's).

    Raises:
        TableValidationError: a required column is missing, a column has the wrong type, or
            too many rows fail.
    """
    raw = raw.reset_index(drop=True)
    coerced = coerce_table(raw, spec, max_bad_share=max_quarantine_share, first_row=first_row)
    checked = add_helper_columns(spec.name, coerced.frame, parents, unique)
    rules = rules_for(
        spec.name, end_date=end_date, columns=raw.columns, keys_flagged=unique is not None
    )
    view = checks_view(checked, rules)
    failed, success = _run_expectations(context, spec.name, view, rules, batch or spec.name)
    del view
    for column, mask in coerced.failures.items():
        kind_reason = f"{column}: not convertible to the contract type"
        failed.setdefault(kind_reason, set()).update(mask[mask].index)
        # The unconvertible value became null; do not also call it missing.
        failed.get(f"{column}: missing", set()).difference_update(mask[mask].index)
    reasons_per_row = _reasons_per_row(failed, len(raw))
    bad = reasons_per_row.notna()
    share = float(bad.mean()) if len(raw) else 0.0
    if share > max_quarantine_share:
        _raise_too_many(
            spec.name,
            raw.set_axis(raw.index + first_row),
            reasons_per_row.set_axis(raw.index + first_row),
            failed,
            share,
            max_quarantine_share,
            n_examples,
        )
    quarantined = raw.loc[bad].copy()
    quarantined.insert(0, ROW, quarantined.index.astype("int64") + first_row)
    quarantined[REASON] = reasons_per_row[bad]
    kept = drop_helper_columns(checked.loc[~bad]).reset_index(drop=True)
    kept = _tighten_types(kept, spec)
    counts = {reason: len(rows) for reason, rows in failed.items() if rows}
    if counts:
        log.warning(
            "%s: %d of %d rows quarantined: %s", spec.name, int(bad.sum()), len(raw), counts
        )
    return TableResult(
        table=spec.name,
        kept=kept,
        quarantined=_stringify_objects(quarantined.reset_index(drop=True)),
        reasons=counts,
        success=success,
    )


# Great Expectations compares a datetime column with its bounds in one vectorised step only
# at nanosecond resolution; any other unit is compared row by row in Python (about 5 s per
# million rows). The contract's types are microseconds, which hold every date.
_NS_MIN, _NS_MAX = pd.Timestamp.min.ceil("us"), pd.Timestamp.max.floor("us")


def checks_view(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """The columns ``rules`` check, as Great Expectations computes them fastest: datetime
    columns at nanosecond resolution, clipped to its range (1677-2262; a date beyond it
    compares as its bound, so it fails or passes the same rules). Row labels are kept, so
    failing rows map back to ``frame``. Hashing and copying the columns no rule reads (free
    text, categories) are left out."""
    wanted = [c for c in frame.columns if c in {c for r in rules for c in rule_columns(r)}]
    view = frame[wanted]
    out = {}
    for column in wanted:
        values = view[column]
        if pd.api.types.is_datetime64_dtype(values) and values.dtype != "datetime64[ns]":
            values = values.mask(values < _NS_MIN, _NS_MIN).mask(values > _NS_MAX, _NS_MAX)
            values = values.astype("datetime64[ns]")
        out[column] = values
    return pd.DataFrame(out, index=view.index)


def rule_columns(rule: Rule) -> list[str]:
    """The columns a rule's expectation reads."""
    e = rule.expectation
    named = [getattr(e, k, None) for k in ("column", "column_A", "column_B")]
    return [c for c in named if isinstance(c, str)] + list(getattr(e, "column_list", None) or [])


def _run_expectations(
    context: Any, table: str, frame: pd.DataFrame, rules: list[Rule], name: str
) -> tuple[dict[str, set[int]], bool]:
    """Run the rules as one suite named ``name`` (the table, or one batch of it; recorded
    for Data Docs); failing row indexes per reason."""
    source = context.data_sources.add_or_update_pandas(name="raw")
    asset = source.add_dataframe_asset(name=name)
    batch_def = asset.add_batch_definition_whole_dataframe(name=f"{name}_all")
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{name}_contract"))
    for rule in rules:
        suite.add_expectation(rule.expectation)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{name}_contract", data=batch_def, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{name}_checkpoint",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "COMPLETE"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    failed: dict[str, set[int]] = {}
    success = bool(result.success)
    for run in result.run_results.values():
        for r in run.results:
            meta = r.expectation_config.meta or {}
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise TableValidationError(
                    table,
                    f"check '{meta.get('reason')}' could not run: "
                    f"{r.exception_info.get('exception_message')}",
                    column=meta.get("column"),
                )
            rows = r.result.get("unexpected_index_list") or []
            failed.setdefault(meta["reason"], set()).update(int(i) for i in rows)
    return failed, success


def _reasons_per_row(failed: Mapping[str, set[int]], n_rows: int) -> pd.Series:
    per_row: dict[int, list[str]] = {}
    for reason in sorted(failed):
        for i in failed[reason]:
            per_row.setdefault(i, []).append(reason)
    out = pd.Series(pd.NA, index=pd.RangeIndex(n_rows), dtype="object")
    for i, reasons in per_row.items():
        out.iat[i] = "; ".join(reasons)
    return out


def _raise_too_many(
    table: str,
    raw: pd.DataFrame,
    reasons: pd.Series,
    failed: Mapping[str, set[int]],
    share: float,
    limit: float,
    n_examples: int,
) -> None:
    common = Counter({r: len(rows) for r, rows in failed.items() if rows}).most_common(3)
    column = common[0][0].split(":")[0] if common else None
    bad = reasons.notna()
    examples = raw.loc[bad].head(n_examples).assign(reason=reasons[bad].head(n_examples))
    raise TableValidationError(
        table,
        f"{int(bad.sum())} of {len(raw)} rows ({share:.0%}) fail row checks, above "
        f"validate.max_quarantine_share={limit}; most common: "
        + ", ".join(f"'{r}' ({n} rows)" for r, n in common),
        column=column,
        examples=examples.rename_axis("row"),
    )


def _tighten_types(kept: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Integer contract columns without nulls after quarantine become plain int64."""
    out = kept.copy()
    for column, kind in spec.typed_columns.items():
        if column in out.columns and kind.value == "int" and not out[column].isna().any():
            out[column] = out[column].astype("int64")
    return out


def _stringify_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns become text so the quarantine can be written as Parquet."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: None if pd.isna(v) else str(v))
    return out
