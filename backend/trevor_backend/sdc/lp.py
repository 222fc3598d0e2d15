"""A linear programme kept in HiGHS between solves.

Suppression and its audit solve many programmes that differ only in the objective or a few
bounds; HiGHS keeps the last basis, so each re-solve starts from the previous optimum
(a handful of simplex pivots instead of a solve from scratch).
"""

from __future__ import annotations

import os
import sys
import threading

import highspy
import numpy as np
from scipy import sparse

INF = highspy.kHighsInf
_banner_lock = threading.Lock()
_banner_shown = False


def _new_highs() -> highspy.Highs:
    """A Highs instance; HiGHS prints a copyright banner to the process's stdout (file
    descriptor 1, under a notebook cell's output) on the first one, so that one is made
    with descriptor 1 pointed at /dev/null."""
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            return highspy.Highs()
        _banner_shown = True
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                return highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)


class LinearProgram:
    """min cost @ x subject to row_lower <= a @ x <= row_upper, lower <= x <= upper."""

    def __init__(
        self,
        cost: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        a: sparse.spmatrix,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        primal: bool = False,
    ) -> None:
        self.highs = _new_highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("log_to_console", False)
        # Presolve would rebuild the problem on every solve and lose the basis that makes
        # a re-solve after a cost or bound change a few pivots.
        self.highs.setOptionValue("presolve", "off")
        if primal:
            # Only costs change between solves: the last basis stays primal feasible.
            self.highs.setOptionValue("simplex_strategy", 4)
        lp = highspy.HighsLp()
        n = len(cost)
        lp.num_col_ = n
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = np.asarray(cost, dtype=float)
        lp.col_lower_ = _finite(lower)
        lp.col_upper_ = _finite(upper)
        lp.row_lower_ = _finite(row_lower)
        lp.row_upper_ = _finite(row_upper)
        csc = sparse.csc_matrix(a, dtype=float)
        csc.sort_indices()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        lp.a_matrix_.num_col_ = n
        lp.a_matrix_.num_row_ = a.shape[0]
        self.highs.passModel(lp)
        self.n = n

    def set_costs(self, idx: np.ndarray, values: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int32)
        if len(idx):
            self.highs.changeColsCost(len(idx), idx, np.asarray(values, dtype=float))

    def set_bounds(self, idx: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        idx = np.asarray(idx, dtype=np.int32)
        if len(idx):
            self.highs.changeColsBounds(len(idx), idx, _finite(lower), _finite(upper))

    def solve(self) -> tuple[str, float, np.ndarray]:
        """(status, objective, x) with status ``optimal``, ``infeasible`` or ``unbounded``."""
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            x = np.asarray(self.highs.getSolution().col_value, dtype=float)
            return "optimal", float(self.highs.getInfo().objective_function_value), x
        if status in (
            highspy.HighsModelStatus.kUnbounded,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,
        ):
            # Unbounded-or-infeasible: the models here always have a feasible point (the true
            # table), so it is unbounded.
            return "unbounded", -np.inf, np.zeros(self.n)
        if status == highspy.HighsModelStatus.kInfeasible:
            return "infeasible", np.inf, np.zeros(self.n)
        raise RuntimeError(f"HiGHS stopped with {self.highs.modelStatusToString(status)}")


def _finite(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=float).copy()
    out[out == np.inf] = INF
    out[out == -np.inf] = -INF
    return out
