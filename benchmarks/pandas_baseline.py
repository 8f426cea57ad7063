"""The features a user would otherwise write in idiomatic pandas: one pass per as_of date.

Same definitions as creditrisk.features (see its dictionary): events strictly before as_of,
payments dated on or after as_of unknown, windows in days, days rounded down. Used only by
benchmarks/features.py, as a baseline and as an independent cross-check of the values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
TOL = 0.005
SEQUENCE = 6
PPM = 1_000_000


def _days(later: pd.Series | pd.Timestamp, earlier: pd.Series) -> pd.Series:
    return np.floor((later - earlier) / DAY)


def purchase_block(tx: pd.DataFrame, a: pd.Timestamp, windows: Sequence[int]) -> pd.DataFrame:
    longest = max(windows)
    t = tx[(tx["ts"] < a) & (tx["ts"] >= a - longest * DAY)]
    age = a - t["ts"]
    g = t.groupby("customer_id")
    out = pd.DataFrame({"days_since_last_purchase": _days(a, g["ts"].max())})
    for w in windows:
        tw = t[age <= w * DAY].groupby("customer_id")["amount"]
        out[f"txn_count_{w}d"] = tw.count()
        out[f"txn_amount_sum_{w}d"] = tw.sum()
        out[f"txn_amount_mean_{w}d"] = tw.mean()
        out[f"txn_amount_max_{w}d"] = tw.max()
    if "category" in t.columns:
        out[f"txn_category_count_{longest}d"] = g["category"].nunique()
    for w in windows:
        for col in (f"txn_count_{w}d", f"txn_amount_sum_{w}d"):
            out[col] = out[col].fillna(0)
    short, mid = min(windows), sorted(windows)[1]
    out[f"txn_count_trend_{short}_{longest}"] = (out[f"txn_count_{short}d"] / short) / (
        out[f"txn_count_{longest}d"] / longest
    )
    out[f"txn_amount_trend_{mid}_{longest}"] = (out[f"txn_amount_sum_{mid}d"] / mid) / (
        out[f"txn_amount_sum_{longest}d"] / longest
    ).where(out[f"txn_amount_sum_{longest}d"] > 0)
    return out


def repayment_block(
    inst: pd.DataFrame, pays: pd.DataFrame, a: pd.Timestamp, windows: Sequence[int]
) -> pd.DataFrame:
    longest = max(windows)
    i = inst[(inst["opened_at"] < a) & (inst["last_due"] >= a - longest * DAY)].copy()
    full = i["full_date"] < a  # NaT compares False: never completed
    partial = pays[(pays["paid_date"] < a) & ~(pays["full_date"] < a)]
    part_paid = partial.groupby(["loan_id", "installment_no"])["amount_paid"].sum()
    i = i.join(part_paid.rename("part_paid"), on=["loan_id", "installment_no"])
    i["paid"] = np.where(full, i["amount_due"], i["part_paid"].fillna(0.0))
    due_before = i["due_date"] < a
    since_due = _days(a, i["due_date"])
    i["dpd_now"] = np.where(due_before & ~full, since_due, 0)
    late_if_paid = _days(i["full_date"], i["due_date"]).clip(lower=0)
    i["days_late"] = np.where(due_before, np.where(full, late_if_paid, since_due), np.nan)
    i["open_amount"] = (i["amount_due"] - i["paid"]).clip(lower=0)
    i["age"] = a - i["due_date"]
    i = _row_values(i, a)
    g = i.groupby("customer_id")
    out = pd.DataFrame(
        {"dpd_current": g["dpd_now"].max(), "outstanding_amount": g["open_amount"].sum()}
    )
    soon = (i["due_date"] >= a) & (i["due_date"] < a + 30 * DAY)
    out["amount_due_next_30d"] = i[soon].groupby("customer_id")["open_amount"].sum()
    in_lookback = (i["age"] > pd.Timedelta(0)) & (i["age"] <= longest * DAY)
    last_late = i[in_lookback & (i["days_late"] >= 1)].groupby("customer_id")["due_date"].max()
    out["days_since_last_late_payment"] = _days(a, last_late)
    for w in windows:
        iw = i[(i["age"] > pd.Timedelta(0)) & (i["age"] <= w * DAY)]
        gw = iw.groupby("customer_id")
        out[f"dpd_max_{w}d"] = gw["days_late"].max()
        out[f"dpd_mean_{w}d"] = gw["days_late"].mean()
        for n in (1, 30, 60):
            out[f"n_late_{n}p_{w}d"] = iw[iw["days_late"] >= n].groupby("customer_id").size()
        due = gw["amount_due"].sum()
        out[f"paid_to_due_ratio_{w}d"] = gw["paid"].sum() / due.where(due > 0)
        out = out.join(amount_block(iw, w))
    out = out.join(sequence_block(i, a, longest)).join(utilisation_block(i))
    return out


def _row_values(i: pd.DataFrame, a: pd.Timestamp) -> pd.DataFrame:
    """Per installment: shortfall, days paid early, paid ratio in ppm, due over principal."""
    full = i["full_date"] < a
    i = i.assign(
        shortfall=(i["amount_due"] - i["paid"]).clip(lower=0),
        early=np.where(full, _days(i["due_date"], i["full_date"]).clip(lower=0), 0),
        util=i["amount_due"] / i["principal"].where(i["principal"] > 0),
    )
    ppm = np.floor(i["paid"] * PPM / i["amount_due"] + 0.5)
    return i.assign(ppm=ppm.where(i["amount_due"] > 0))


def amount_block(iw: pd.DataFrame, w: int) -> pd.DataFrame:
    """Amounts, shortfall, early payment, ratio variance and utilisation in one window."""
    gw = iw.groupby("customer_id")
    n, q = gw["ppm"].count(), gw["ppm"].sum()
    qq = (iw["ppm"] ** 2).groupby(iw["customer_id"]).sum()
    var = (n * qq - q * q) / ((n * (n - 1)).astype("float64") * PPM * PPM)
    return pd.DataFrame(
        {
            f"amount_due_sum_{w}d": gw["amount_due"].sum(),
            f"amount_paid_sum_{w}d": gw["paid"].sum(),
            f"amount_due_max_{w}d": gw["amount_due"].max(),
            f"amount_paid_max_{w}d": gw["paid"].max(),
            f"shortfall_sum_{w}d": gw["shortfall"].sum(),
            f"shortfall_max_{w}d": gw["shortfall"].max(),
            f"days_early_mean_{w}d": gw["early"].mean(),
            f"paid_ratio_var_{w}d": var.where(n >= 2),
            f"due_to_principal_max_{w}d": gw["util"].max(),
        }
    )


def sequence_block(i: pd.DataFrame, a: pd.Timestamp, longest: int) -> pd.DataFrame:
    """The last six installments due before as_of, most recent first, and the slope of
    their amounts (oldest to most recent)."""
    s = i[(i["age"] > pd.Timedelta(0)) & (i["age"] <= longest * DAY)]
    s = s.sort_values(
        ["customer_id", "due_date", "loan_id", "installment_no"],
        ascending=[True, False, False, False],
    )
    s = s.assign(pos=s.groupby("customer_id").cumcount())
    s = s[s["pos"] < SEQUENCE]
    out = pd.DataFrame(index=pd.Index(s["customer_id"].unique(), name="customer_id"))
    for k in range(1, SEQUENCE + 1):
        at = s[s["pos"] == k - 1].set_index("customer_id")
        out[f"inst_dpd_k{k}"] = at["days_late"]
        out[f"inst_amount_due_k{k}"] = at["amount_due"]
        out[f"inst_amount_paid_k{k}"] = at["paid"]
        out[f"inst_paid_ratio_k{k}"] = at["paid"] / at["amount_due"].where(at["amount_due"] > 0)
    out["due_to_principal_k1"] = s[s["pos"] == 0].set_index("customer_id")["util"]
    x = (SEQUENCE - 1 - s["pos"]).astype("float64")
    g = pd.DataFrame(
        {
            "c": s["customer_id"],
            "x": x,
            "y": s["amount_due"],
            "xy": x * s["amount_due"],
            "xx": x * x,
        }
    ).groupby("c")
    n, sx, sy, sxy, sxx = g["x"].count(), g["x"].sum(), g["y"].sum(), g["xy"].sum(), g["xx"].sum()
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    out["amount_due_slope_k"] = slope.where(n >= 2)
    return out


def utilisation_block(i: pd.DataFrame) -> pd.DataFrame:
    """Outstanding over the principal of the loans considered, counted once per loan."""
    last = i["installment_no"] == i.groupby("loan_id")["installment_no"].transform("max")
    lines = i["principal"].where(last, 0.0).groupby(i["customer_id"]).sum()
    owed = i.groupby("customer_id")["open_amount"].sum()
    return pd.DataFrame({"outstanding_to_principal": owed / lines.where(lines > 0)})


def loan_block(loans: pd.DataFrame, a: pd.Timestamp, windows: Sequence[int]) -> pd.DataFrame:
    ln = loans[loans["opened_at"] < a]
    first = ln.groupby("customer_id")["opened_at"].min()
    running = ln[~(ln["repaid_date"] < a)]  # NaT: not yet repaid
    out = pd.DataFrame(
        {
            "months_since_first_loan": np.floor(_days(a, first) / 30.4375),
            "n_active_loans": running.groupby("customer_id").size(),
        }
    )
    for w in windows:
        out[f"n_loans_opened_{w}d"] = (
            ln[ln["opened_at"] >= a - w * DAY].groupby("customer_id").size()
        )
    return out


def prepare(
    loans: pd.DataFrame, rep: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Installments with the date they were completed; payments; loans with repaid date."""
    keys = ["loan_id", "installment_no"]
    inst = rep.groupby(keys, as_index=False).agg(
        due_date=("due_date", "min"), amount_due=("amount_due", "max")
    )
    pays = rep.dropna(subset=["paid_date"]).sort_values([*keys, "paid_date", "amount_paid"])
    pays["cum_paid"] = pays.groupby(keys)["amount_paid"].cumsum()
    done = pays[pays["cum_paid"] >= pays["amount_due"] - TOL]
    inst = inst.join(done.groupby(keys)["paid_date"].min().rename("full_date"), on=keys)
    pays = pays.join(inst.set_index(keys)["full_date"], on=keys)
    inst["last_due"] = inst.groupby("loan_id")["due_date"].transform("max")
    per_loan = inst.groupby("loan_id")["full_date"]
    repaid = per_loan.max().where(per_loan.count() == per_loan.size())
    loans = loans.join(repaid.rename("repaid_date"), on="loan_id")
    inst = inst.merge(loans[["loan_id", "customer_id", "opened_at", "principal"]], on="loan_id")
    return inst, pays, loans


ZERO_FILLED = (
    "txn_count",
    "txn_amount_sum",
    "txn_category",
    "dpd_current",
    "dpd_max",
    "n_late",
    "n_active",
    "outstanding_amount",
    "amount_due_next",
    "n_loans",
    "amount_due_sum",
    "amount_paid_sum",
    "shortfall_sum",
)


def pandas_features(
    tables: dict[str, pd.DataFrame],
    as_of_dates: Sequence[pd.Timestamp],
    windows: Sequence[int],
    static: Sequence[str],
) -> pd.DataFrame:
    """Every feature of the stage, for every customer created before each as_of."""
    customers, tx = tables["customers"], tables["transactions"]
    loans, rep = tables["loans"], tables["repayments"]
    inst, pays, loans = prepare(loans, rep)
    frames = []
    for a in as_of_dates:
        base = customers[customers["created_at"] < a].set_index("customer_id")
        block = pd.DataFrame(index=base.index)
        block["months_on_book"] = np.floor(_days(a, base["created_at"]) / 30.4375)
        for col in static:
            block[col] = base[col]
        block = (
            block.join(purchase_block(tx, a, windows))
            .join(repayment_block(inst, pays, a, windows))
            .join(loan_block(loans, a, windows))
        )
        zero = [c for c in block.columns if c.startswith(ZERO_FILLED) and "trend" not in c]
        block[zero] = block[zero].fillna(0)
        frames.append(block.copy().reset_index().assign(as_of=a))
    return pd.concat(frames, ignore_index=True)


def load(raw: str) -> dict[str, pd.DataFrame]:
    names = ("customers", "transactions", "loans", "repayments")
    return {n: pd.read_parquet(f"{raw}/{n}.parquet") for n in names}


def as_of_dates(first: str, months: int) -> list[pd.Timestamp]:
    return list(pd.date_range(first, periods=months, freq="MS"))


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="pandas baseline of the features stage")
    parser.add_argument("--raw", required=True)
    parser.add_argument("--first", required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    result = pandas_features(
        load(args.raw),
        as_of_dates(args.first, args.months),
        (30, 90, 180, 365),
        ("income_monthly", "segment", "region"),
    )
    result.to_parquet(args.out, index=False)
    print(f"pandas baseline: {len(result):,} rows in {time.perf_counter() - started:.1f} s")
