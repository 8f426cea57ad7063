"""Stage generate: synthetic raw history in the raw contract, plus the oracle probabilities.

Usage: python -m pipelines.generate --out data/synthetic/raw --truth data/synthetic/truth.parquet
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from creditrisk.synthetic.generator import generate, n_chunks
from creditrisk.synthetic.population import StressPeriod

from pipelines.common import ParquetAppender, reset_dir, setup_logging
from pipelines.params import load_params

log = logging.getLogger("pipelines.generate")

RAW_TABLES = ("customers", "transactions", "loans", "repayments")


def main(out: Path, truth: Path) -> None:
    params = load_params()
    p = params.generate
    stress = StressPeriod(
        start=p.stress.start,
        end=p.stress.end,
        intensity=p.stress.intensity,
        regions=p.stress.regions,
        segments=p.stress.segments,
    )
    reset_dir(out)
    writers = {name: ParquetAppender(out / f"{name}.parquet") for name in RAW_TABLES}
    truth_writer = ParquetAppender(truth)
    total = n_chunks(p.n_customers)
    started = time.perf_counter()
    log.info(
        "generating %d customers, %s to %s, seed %d, in %d chunk(s)",
        p.n_customers,
        p.start_date,
        params.data.end_date,
        p.seed,
        total,
    )
    try:
        for chunk in generate(
            n_customers=p.n_customers,
            start=p.start_date,
            end=params.data.end_date,
            stress=stress,
            seed=p.seed,
            dpd_threshold_days=params.labels.dpd_threshold_days,
            horizon_months=params.labels.horizon_months,
        ):
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
    log.info(
        "wrote %s in %.1f s",
        ", ".join(f"{n} {w.rows:,}" for n, w in writers.items()),
        time.perf_counter() - started,
    )


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the raw tables")
    parser.add_argument("--truth", type=Path, required=True, help="Parquet file for oracle PDs")
    args = parser.parse_args()
    main(args.out, args.truth)
