"""Prune exact and near duplicate features before training, by a documented rule.

Rule: on the training period, rank numeric features by information value (IV, from
equal-count bins); walk down that ranking and drop a feature whose absolute Pearson
correlation with a feature already kept exceeds the threshold (it duplicates that one,
which carries at least as much information). Correlations use the rows where both
features are known; a constant feature is kept only if nothing else is (it has no
correlation), and LightGBM ignores it anyway.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def information_value(x: pd.Series, y: np.ndarray, *, bins: int = 10) -> float:
    """IV of a numeric feature: equal-count bins of its known values plus a bin for
    missing values, WoE with 0.5 added to each count (no infinite WoE)."""
    values = x.to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(values)
    codes = np.full(len(values), -1, dtype=np.int64)
    if known.any():
        edges = np.unique(np.quantile(values[known], np.linspace(0, 1, bins + 1)[1:-1]))
        codes[known] = np.searchsorted(edges, values[known], side="right")
    codes = codes + 1  # 0: missing
    size = int(codes.max()) + 1
    bad = np.bincount(codes, weights=y, minlength=size) + 0.5
    good = np.bincount(codes, weights=1 - y, minlength=size) + 0.5
    used = np.bincount(codes, minlength=size) > 0
    bad_share, good_share = bad[used] / bad[used].sum(), good[used] / good[used].sum()
    return float(np.sum((good_share - bad_share) * np.log(good_share / bad_share)))


def prune_correlated(
    frame: pd.DataFrame,
    features: list[str],
    y: np.ndarray,
    *,
    max_abs_corr: float,
    max_rows: int,
    seed: int,
) -> pd.DataFrame:
    """The pruning decision for each numeric feature of ``features``.

    Returns:
        One row per feature, in IV order: feature, iv, kept (bool), duplicate_of (the kept
        feature it duplicates, or ""), abs_corr (its largest absolute correlation with a
        feature kept before it; NaN for the first).
    """
    sample = frame
    if len(frame) > max_rows:
        sample = frame.sample(n=max_rows, random_state=seed).sort_index()
        y = y[frame.index.get_indexer(sample.index)]
    matrix = sample[features].astype("float64")
    iv = {f: information_value(matrix[f], y) for f in features}
    order = sorted(features, key=lambda f: (-iv[f], f))
    corr = matrix[order].corr(min_periods=30).abs()
    kept: list[str] = []
    rows = []
    for f in order:
        against = corr.loc[f, kept].to_numpy(dtype="float64") if kept else np.array([])
        known = ~np.isnan(against)
        best = int(np.argmax(np.where(known, against, -1.0))) if known.any() else -1
        worst = kept[best] if best >= 0 else ""
        value = float(against[best]) if best >= 0 else float("nan")
        duplicate = bool(worst) and value > max_abs_corr
        if not duplicate:
            kept.append(f)
        rows.append(
            {
                "feature": f,
                "iv": iv[f],
                "kept": not duplicate,
                "duplicate_of": worst if duplicate else "",
                "abs_corr": value,
            }
        )
    return pd.DataFrame(rows)
