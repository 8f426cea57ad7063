"""Stage generate: synthetic raw history in the raw contract, plus the oracle probabilities.

Usage: python -m pipelines.generate --out data/synthetic/raw --truth data/synthetic/truth.parquet
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from creditrisk.synthetic.generator import Chunk, generate, n_chunks
from creditrisk.synthetic.population import StressPeriod
from pipelines.support.files import ParquetAppender, reset_dir, write_table
from pipelines.support.params import load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.generate")

RAW_TABLES = ("customers", "transactions", "loans", "repayments")


def main(out: Path, truth: Path) -> None:
    params = load_params()
    if not params.data.is_synthetic:
        _nothing_to_generate(out, truth, params.data.source)
        return
    p = params.generate
    log.info(
        "generating %d customers, %s to %s, seed %d, in %d chunk(s)",
        p.n_customers,
        p.start_date,
        params.data.end_date,
        p.seed,
        n_chunks(p.n_customers),
    )
    chunks = generate(
        n_customers=p.n_customers,
        start=p.start_date,
        end=params.data.end_date,
        stress=StressPeriod(
            start=p.stress.start,
            end=p.stress.end,
            intensity=p.stress.intensity,
            regions=p.stress.regions,
            segments=p.stress.segments,
        ),
        seed=p.seed,
        dpd_threshold_days=params.labels.dpd_threshold_days,
        horizon_months=params.labels.horizon_months,
    )
    reset_dir(out)
    _write_chunks(chunks, out, truth, total=n_chunks(p.n_customers))


def _nothing_to_generate(out: Path, truth: Path, source: str) -> None:
    """With real data the generator does not run, and none of its settings apply: its
    outputs are left empty (DVC expects them), so no oracle figures are reported."""
    reset_dir(out)
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="string"),
            "as_of": pd.Series(dtype="datetime64[us]"),
            "true_pd": pd.Series(dtype="float64"),
        }
    )
    write_table(empty, truth)
    log.info("data.source is %s: nothing to generate (the synthetic history is not used)", source)


def _write_chunks(chunks: Iterable[Chunk], out: Path, truth: Path, *, total: int) -> None:
    """Append each chunk's raw tables and truth as it is generated (bounded memory)."""
    writers = {name: ParquetAppender(out / f"{name}.parquet") for name in RAW_TABLES}
    truth_writer = ParquetAppender(truth)
    started = time.perf_counter()
    try:
        for chunk in chunks:
            for name, frame in chunk.raw_tables().items():
                writers[name].append(frame)
            truth_writer.append(chunk.truth)
            log.info(
                "chunk %d/%d done: %s transactions so far (%.0f s)",
                chunk.index + 1,
                total,
                f"{writers['transactions'].rows:,}",
                time.perf_counter() - started,
            )
    finally:
        for w in (*writers.values(), truth_writer):
            w.close()
    log.info("wrote %s", ", ".join(f"{n} {w.rows:,}" for n, w in writers.items()))


if __name__ == "__main__":
    cli(main)
