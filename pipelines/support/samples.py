"""Split periods read as uniform hash samples, for the stages that measure a period larger
than memory (evaluate's train metrics, monitor's reference population, strategy's IV).

A row is kept when a hash of its (customer_id, as_of) and the seed falls below the share
(:func:`creditrisk.models.sampling.key_uniform`): the same rows on every run, whatever the
file's row order, and a row kept at one share is kept at every larger one. Only the keys
are read whole; the kept rows are read row group by row group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.models.sampling import key_uniform
from pipelines.support.artifacts import SplitDir
from pipelines.support.files import read_rows

Span = tuple[pd.Timestamp, pd.Timestamp]


def count(split: SplitDir, name: str, span: Span | None = None) -> int:
    """Rows of a period (with as_of in ``span``, when given), from its as_of alone."""
    as_of = pd.read_parquet(split.period(name), columns=["as_of"])["as_of"]
    return len(as_of) if span is None else int(as_of.between(span[0], span[1]).sum())


def read_sample(
    split: SplitDir, name: str, *, share: float, seed: int, span: Span | None = None
) -> pd.DataFrame:
    """A period's rows (those with as_of in ``span``, when given); with ``share`` below 1,
    the uniform hash sample of them."""
    path = split.period(name)
    if share >= 1 and span is None:
        return pd.read_parquet(path)
    keys = pd.read_parquet(path, columns=list(SNAPSHOT_KEY))
    keep = np.ones(len(keys), dtype=bool)
    if span is not None:
        keep = keys["as_of"].between(span[0], span[1]).to_numpy(copy=True)
    if share < 1:
        keep &= key_uniform(keys, seed) < share
    return read_rows(path, keep)


def read_span(
    split: SplitDir, names: list[str], span: Span, *, max_rows: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """The rows of the periods ``names`` with as_of in ``span`` (all sampled at one share
    beyond ``max_rows``), and how many there are in all."""
    total = sum(count(split, n, span) for n in names)
    share = min(1.0, max_rows / max(total, 1))
    parts = [read_sample(split, n, share=share, seed=seed, span=span) for n in names]
    return (pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]), total
