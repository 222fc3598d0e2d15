"""trevor's SDC evidence and checks against ACRO (and plain pandas), measured in one run.

A 100 x 50 table over 1,000,000 and 10,000,000 records, as a frequency table and as a table
of means, with the checks on. Rows are skewed (geometric), so around a quarter of the cells
fail the threshold at 1M records. For each size and statistic the script prints:

* floor: ``groupby().size().unstack()`` / ``groupby()[v].agg("mean").unstack()``, the
  cheapest way pandas makes the table;
* pandas: ``pandas.crosstab`` alone (the table without any checks);
* trevor: ``trevor.crosstab`` (table + evidence in one pass) + ``trevor.check`` (verdict and
  the suppression suggestion for failing tables);
* ACRO: ``acro.ACRO().crosstab`` (table + its checks, suppression off);
* the ratios ACRO/trevor (goal >= 10 at 1M) and trevor/pandas (goal <= 2), and the peak
  memory each engine allocates (tracemalloc, measured in a separate untimed run).

Then suppression (issue 11), for tables with failing cells: a 100 x 50 frequency table at
1M records (over 1,000 failing cells), a 3-way 20 x 10 x 5 table at 1M records, the 100 x 50
table at 10M records and a 100 x 50 table of sums at 1M records. For each:

* the pandas floor: ``groupby().size().unstack()`` (or ``.agg(["sum", "size"]).unstack()``);
* trevor: ``trevor.check`` (rules + secondary suppression + the attacker's-LP audit);
* ACRO: ``ACRO(suppress=True).crosstab`` (its suppression; totals not shown, as ACRO 1.0.2
  suppresses only tables without margins);
* information loss of both: cells blanked and the value they hold (records, or the sum);
* how many of ACRO's blanked primary cells an attacker who knows the true totals narrows
  below the protection level (trevor's audit model applied to ACRO's pattern), and how
  many are recovered exactly.

Usage: python benchmarks/sdc_vs_acro.py [--sizes 1000000 10000000] [--repeat 3] [--no-acro]
       [--suppression-only] [--acro-suppress-max 2000000]
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

import jupyter_trevor as trevor

ROWS, COLS = 100, 50


def make_data(n: int, seed: int = 0, decay: float = 15.0) -> pd.DataFrame:
    """Rows skewed geometrically (``decay``: rows per factor e), so the last rows are small."""
    rng = np.random.default_rng(seed)
    weights = np.exp(-np.arange(ROWS) / decay)
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
    parser.add_argument("--suppression-only", action="store_true")
    parser.add_argument(
        "--cases", nargs="+", type=int, help="suppression cases to run (0-3), default all"
    )
    parser.add_argument(
        "--acro-suppress-max",
        type=int,
        default=2_000_000,
        help="largest table ACRO suppresses (it re-queries the data once per failing cell)",
    )
    args = parser.parse_args()
    if not args.suppression_only:
        checks_table(args)
    suppression_table(args)


def checks_table(args: argparse.Namespace) -> None:
    # ACRO logs every output at INFO; the table below is the benchmark's output.
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")
    session = None
    if not args.no_acro:
        import acro

        session = acro.ACRO(suppress=False)

    header = (
        f"{'rows':>10} {'table':>6} {'floor s':>8} {'pandas s':>9} {'trevor s':>9} {'ACRO s':>9}"
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

            def run_floor(stat: str = stat, df: pd.DataFrame = df) -> pd.DataFrame:
                grouped = df.groupby(["row", "col"])
                if stat == "count":
                    return grouped.size().unstack()
                return grouped["value"].agg("mean").unstack()

            t_pandas, _ = best_time(run_pandas, args.repeat)
            t_floor, _ = best_time(run_floor, args.repeat)
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
                f"{n:>10,} {stat:>6} {t_floor:8.3f} {t_pandas:9.3f} {t_trevor:9.3f} {acro_cols}"
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


def make_3way(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weights = np.exp(-np.arange(20) / 4.0)
    return pd.DataFrame(
        {
            "row": rng.choice(20, size=n, p=weights / weights.sum()),
            "col": rng.integers(0, 10, size=n),
            "third": rng.choice(5, size=n, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
            "value": rng.lognormal(3.0, 1.0, size=n),
        }
    )


def _acro_view(table: pd.DataFrame, acro_table: pd.DataFrame, ev: Any) -> tuple[int, int]:
    """(narrowed, exact): ACRO's blanked primary cells that an attacker knowing the true
    totals narrows below the protection level / recovers exactly (trevor's audit model)."""
    from trevor_backend.sdc import Params, linear, protection

    blank = np.isnan(acro_table.reindex_like(pd.DataFrame(table)).to_numpy(dtype=float))
    params = Params()
    lt = linear.build(ev, public_min=params.threshold)
    mask = np.zeros(lt.size, dtype=bool)
    for i, j in np.argwhere(blank):
        var = lt.var(i, j)
        if var is not None:
            mask[var] = True
    primary = np.flatnonzero(mask & (lt.value < params.threshold))
    need = protection.levels(lt, primary, params)
    short = protection.unprotected(lt, mask, need, list(range(len(primary))))
    _, low, high = protection.intervals(lt, mask, only=primary)
    exact = int(np.sum(high - low <= 1e-6))
    return len(short), exact


def suppression_table(args: argparse.Namespace) -> None:
    logging.disable(logging.INFO)
    warnings.filterwarnings("ignore")
    cases = [
        ("2-way count", 1_000_000, "count"),
        ("3-way count", 1_000_000, "3way"),
        ("2-way sum", 1_000_000, "sum"),
        ("2-way count", 10_000_000, "count"),
    ]
    header = (
        f"{'table':>12} {'rows':>10} {'failing':>7} {'floor s':>8} {'trevor s':>8}"
        f" {'ACRO s':>8} {'trevor cells':>12} {'ACRO cells':>10} {'trevor value':>13}"
        f" {'ACRO value':>11} {'ACRO narrowed':>13} {'ACRO exact':>10}"
    )
    print("\nSuppression (trevor: rules + secondary suppression + audit)")
    print(header)
    print("-" * len(header))
    for name, n, kind in [c for k, c in enumerate(cases) if not args.cases or k in args.cases]:
        # At 10M records the default skew leaves almost no small cells: skew harder.
        df = make_3way(n) if kind == "3way" else make_data(n, decay=15.0 if n < 5e6 else 8.0)
        rows = [df["row"]]
        cols = [df["col"], df["third"]] if kind == "3way" else [df["col"]]
        keys = ["row", "col", "third"] if kind == "3way" else ["row", "col"]
        kwargs: dict[str, Any] = {"values": df["value"], "aggfunc": "sum"} if kind == "sum" else {}

        def floor(df: pd.DataFrame = df, keys: list[str] = keys, kind: str = kind) -> Any:
            grouped = df.groupby(keys)
            if kind == "sum":
                return grouped["value"].agg(["sum", "size"]).unstack(keys[1:])
            return grouped.size().unstack(keys[1:])

        t_floor, _ = best_time(floor, 1)
        table = trevor.crosstab(rows, cols, **kwargs)
        t_trevor, report = best_time(partial(trevor.check, table), 1)
        ev = table.trevor_evidence
        measure = ev.sum if kind == "sum" else ev.n
        failing = len({tuple(p) for f in report.failing for p in f.positions})
        ours_cells, ours_value = "refused", "-"
        if report.suppression is not None:
            blank = np.zeros(ev.shape, dtype=bool)
            for i, j in report.suppression["primary"] + report.suppression["secondary"]:
                blank[i, j] = True
            ours_cells, ours_value = str(int(blank.sum())), f"{float(measure[blank].sum()):.0f}"
        t_acro, acro_cells, acro_value, narrowed, exact = "-", "-", "-", "-", "-"
        if not args.no_acro and n <= args.acro_suppress_max:
            import acro

            session = acro.ACRO(suppress=True)
            seconds, acro_table = best_time(
                partial(session.crosstab, rows[0] if len(rows) == 1 else rows, cols, **kwargs), 1
            )
            acro_blank = np.isnan(
                acro_table.reindex_like(pd.DataFrame(table)).to_numpy(dtype=float)
            )
            t_acro = f"{seconds:.2f}"
            acro_cells = str(int(acro_blank.sum()))
            acro_value = f"{float(measure[acro_blank].sum()):.0f}"
            narrowed, exact = (str(x) for x in _acro_view(table, acro_table, ev))
        print(
            f"{name:>12} {n:>10,} {failing:>7} {t_floor:8.3f} {t_trevor:8.3f} {t_acro:>8}"
            f" {ours_cells:>12} {acro_cells:>10} {ours_value:>13} {acro_value:>11}"
            f" {narrowed:>13} {exact:>10}",
            flush=True,
        )
        del df
    print(
        "\ncells/value: blanked cells and the records (count tables) or sum (sum table) they"
        " hold. ACRO narrowed/exact: ACRO's blanked primary cells that the true totals narrow"
        " below the protection level / give back exactly; trevor's are 0 by its audit."
    )


if __name__ == "__main__":
    main()
