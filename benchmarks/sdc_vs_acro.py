"""trevor's SDC evidence and checks against ACRO (and plain pandas), measured in one run.

A 100 x 50 table over 1,000,000 and 10,000,000 records, as a frequency table and as a table
of means, with the checks on. Rows are skewed (geometric), so around a quarter of the cells
fail the threshold at 1M records. For each size and statistic the script prints:

* pandas: ``pandas.crosstab`` alone (the table without any checks);
* trevor: ``trevor.crosstab`` (table + evidence in one pass) + ``trevor.check`` (verdict and
  the suppression suggestion for failing tables);
* ACRO: ``acro.ACRO().crosstab`` (table + its checks, suppression off);
* the ratios ACRO/trevor (goal >= 10 at 1M) and trevor/pandas (goal <= 2), and the peak
  memory each engine allocates (tracemalloc, measured in a separate untimed run).

Usage: python benchmarks/sdc_vs_acro.py [--sizes 1000000 10000000] [--repeat 3] [--no-acro]
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import jupyter_trevor as trevor

ROWS, COLS = 100, 50


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weights = np.exp(-np.arange(ROWS) / 15.0)
    rows = rng.choice(ROWS, size=n, p=weights / weights.sum())
    cols = rng.integers(0, COLS, size=n)
    values = rng.lognormal(3.0, 1.0, size=n)
    return pd.DataFrame({"row": rows, "col": cols, "value": values})


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_mib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-acro", action="store_true", help="skip the reference")
    args = parser.parse_args()

    # ACRO logs every output at INFO; the table below is the benchmark's output.
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")
    session = None
    if not args.no_acro:
        import acro

        session = acro.ACRO(suppress=False)

    header = (
        f"{'rows':>10} {'table':>6} {'pandas s':>9} {'trevor s':>9} {'ACRO s':>9}"
        f" {'ACRO/trevor':>11} {'trevor/pandas':>13} {'failing':>8} {'trevor MiB':>10}"
        f" {'ACRO MiB':>9} {'pandas MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        df = make_data(n)
        for stat in ("count", "mean"):
            kwargs: dict[str, Any] = (
                {} if stat == "count" else {"values": df["value"], "aggfunc": "mean"}
            )
            acro_repeat = 1 if n > 2_000_000 else args.repeat

            def run_pandas(kwargs: dict[str, Any] = kwargs, df: pd.DataFrame = df) -> pd.DataFrame:
                return pd.crosstab(df["row"], df["col"], dropna=False, **kwargs)

            def run_trevor(kwargs: dict[str, Any] = kwargs, df: pd.DataFrame = df) -> Any:
                table = trevor.crosstab(df["row"], df["col"], **kwargs)
                return table, trevor.check(table)

            def run_acro(kwargs: dict[str, Any] = kwargs, df: pd.DataFrame = df) -> Any:
                assert session is not None
                return session.crosstab(df["row"], df["col"], **kwargs)

            t_pandas, _ = best_time(run_pandas, args.repeat)
            t_trevor, (table, report) = best_time(run_trevor, args.repeat)
            failing = len(report.cells("threshold"))
            mem_trevor = peak_mib(run_trevor)
            mem_pandas = peak_mib(run_pandas)
            if session is not None:
                t_acro, acro_table = best_time(run_acro, acro_repeat)
                mem_acro = peak_mib(run_acro) if n <= 2_000_000 else float("nan")
                pd.testing.assert_frame_equal(
                    pd.DataFrame(table), acro_table, check_dtype=False, check_names=False
                )
                acro_cols = f"{t_acro:9.3f} {t_acro / t_trevor:11.1f}"
            else:
                mem_acro = float("nan")
                acro_cols = f"{'-':>9} {'-':>11}"
            print(
                f"{n:>10,} {stat:>6} {t_pandas:9.3f} {t_trevor:9.3f} {acro_cols}"
                f" {t_trevor / t_pandas:13.2f} {failing:>8} {mem_trevor:10.1f}"
                f" {mem_acro:9.1f} {mem_pandas:10.1f}",
                flush=True,
            )
        del df
    print(
        "\ntrevor = trevor.crosstab + trevor.check (verdict and suppression suggestion);"
        " ACRO = ACRO.crosstab with its checks (suppression off). ACRO's peak memory is"
        " measured up to 2M records only (tracemalloc slows it badly)."
    )


if __name__ == "__main__":
    main()
