"""Run build_features on pandas frames through an engine, for the feature tests."""

from __future__ import annotations

from datetime import date

import ibis
import pandas as pd

from creditrisk.features.build import FeaturePlan, build_features
from creditrisk.features.labels import as_of_frame
from creditrisk.features.settings import FeatureSettings, StaticDeclaration

WINDOWS = (30, 90, 180, 365)
# As params.yaml declares it: less income, more risk, reported in the "income" group.
INCOME = StaticDeclaration(-1, "Lower declared income", "income")


def plan_for(
    tables: dict[str, pd.DataFrame],
    as_of: list[str],
    *,
    static: tuple[str, ...] = ("income_monthly",),
    end_date: date = date(2025, 12, 31),
) -> FeaturePlan:
    registered = {name: ibis.memtable(frame) for name, frame in tables.items()}
    dates = as_of_frame([pd.Timestamp(a).date() for a in as_of], horizon_months=12)
    return build_features(
        registered,
        as_of_dates=ibis.memtable(dates),
        settings=FeatureSettings(
            windows=WINDOWS,
            static=static,
            protected=("gender",),
            dpd_threshold_days=90,
            end_date=end_date,
            static_reasons={"income_monthly": INCOME},
        ),
    )


def features_for(tables: dict[str, pd.DataFrame], as_of: list[str], **kw: object) -> pd.DataFrame:
    con = kw.pop("con", None) or ibis.duckdb.connect()
    out = con.to_pandas(plan_for(tables, as_of, **kw).table)  # type: ignore[arg-type, attr-defined]
    out["as_of"] = out["as_of"].astype("datetime64[us]")
    return out.sort_values(["as_of", "customer_id"]).reset_index(drop=True)
