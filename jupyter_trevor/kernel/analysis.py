"""SDC-aware analysis helpers: the usual result plus the evidence, from one pass over the data.

Each helper returns what pandas / matplotlib / statsmodels return (tables as ``TrevorFrame``,
a DataFrame) with the evidence attached; ``precheck.check`` turns it into a verdict.

Over 500 lines on purpose: this is the public analysis API researchers read with ``help()`` and
tab-completion, one helper per kind of output, each short; one module keeps it one page of docs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trevor_backend.sdc import statbarns as sb
from trevor_backend.sdc import suppression
from trevor_backend.sdc.blocks import combine
from trevor_backend.sdc.evidence import TableEvidence, model_evidence, survival_evidence
from trevor_backend.sdc.tabulate import crosstab_with_evidence, table_evidence

from .config import current_params
from .display import TrevorFrame, verdict_banner
from .evidence import attach, evidence_of
from .precheck import check

Labels = Sequence[Any]

_AGG_NAMES = {
    "count": "count",
    "size": "count",
    "sum": "sum",
    "mean": "mean",
    "average": "mean",
    "median": "median",
    "std": "std",
    "var": "var",
    "min": "min",
    "max": "max",
    "mode": "mode",
    "amin": "min",
    "amax": "max",
    "nanmean": "mean",
    "nansum": "sum",
    "nanmedian": "median",
    "nanstd": "std",
    "nanmin": "min",
    "nanmax": "max",
}


def _statistic(aggfunc: Any) -> str:
    if aggfunc is None:
        return "count"
    if isinstance(aggfunc, str):
        return _AGG_NAMES.get(aggfunc, aggfunc)
    name = getattr(aggfunc, "__name__", None) or type(aggfunc).__name__
    return _AGG_NAMES.get(name, name)


def _mode(values: pd.Series) -> Any:
    """The smallest modal value: deterministic, unlike ACRO's random pick among ties."""
    modes = values.mode()
    return modes.iloc[0] if len(modes) else np.nan


def _pandas_aggfunc(aggfunc: Any) -> Any:
    return _mode if aggfunc == "mode" else aggfunc


def _keys(axis: Any, prefix: str) -> list[pd.Series]:
    """pandas' crosstab row/column arguments as a list of named Series."""
    if axis is None:
        return []
    if isinstance(axis, pd.Series):
        items = [axis]
    elif isinstance(axis, pd.DataFrame):
        items = [axis[c] for c in axis.columns]
    elif isinstance(axis, list | tuple) and axis and not np.isscalar(axis[0]):
        items = [a if isinstance(a, pd.Series) else pd.Series(np.asarray(a)) for a in axis]
    else:
        items = [pd.Series(np.asarray(axis))]
    out = []
    for i, s in enumerate(items):
        s = s.reset_index(drop=True) if isinstance(s, pd.Series) else pd.Series(s)
        if s.name is None:
            s = s.rename(f"{prefix}_{i}")
        out.append(s)
    return out


def _finish(table: pd.DataFrame, evidence: TableEvidence) -> TrevorFrame:
    frame = TrevorFrame(table)
    frame._trevor_evidence = evidence
    return frame


def _structural(structural_zeros: Any) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    out = []
    for row, col in structural_zeros or []:
        out.append(
            (row if isinstance(row, tuple) else (row,), col if isinstance(col, tuple) else (col,))
        )
    return out


def crosstab(
    index: Any,
    columns: Any,
    values: Any = None,
    rownames: Labels | None = None,
    colnames: Labels | None = None,
    aggfunc: str | Callable[..., Any] | Sequence[str | Callable[..., Any]] | None = None,
    margins: bool = False,
    margins_name: str = "All",
    dropna: bool = True,
    normalize: bool | str = False,
    *,
    statbarn: str | None = None,
    structural_zeros: Sequence[tuple[Any, Any]] | None = None,
) -> TrevorFrame:
    """``pandas.crosstab`` with SDC evidence.

    Missing keys form their own group and empty combinations are shown (``dropna`` is
    treated as False, as ACRO does), because leaving records out of a table or its margins
    silently changes what the totals disclose.
    """
    del dropna
    if (values is None) != (aggfunc is None):
        raise ValueError("values and aggfunc go together: pass both or neither")
    row_keys = _keys(index, "row")
    col_keys = _keys(columns, "col")
    if rownames is not None:
        row_keys = [k.rename(n) for k, n in zip(row_keys, rownames, strict=True)]
    if colnames is not None:
        col_keys = [k.rename(n) for k, n in zip(col_keys, colnames, strict=True)]
    vals = None
    if values is not None:
        vals = (
            pd.Series(np.asarray(values))
            if not isinstance(values, pd.Series)
            else (values.reset_index(drop=True))
        )
    if isinstance(aggfunc, list | tuple):
        table = pd.crosstab(
            row_keys,
            col_keys,
            values=vals,
            aggfunc=[_pandas_aggfunc(a) for a in aggfunc],
            margins=margins,
            margins_name=margins_name,
            dropna=False,
            normalize=normalize,
        )
        numeric = pd.to_numeric(vals, errors="coerce").to_numpy(dtype=float)
        evidence = _several(
            table, row_keys, col_keys, list(aggfunc), {None: numeric}, margins_name, statbarn
        )
        evidence.structural_zeros = _structural(structural_zeros)
        return _finish(table, evidence)
    statistic = _statistic(aggfunc)
    numeric = None
    if vals is not None:
        numeric = pd.to_numeric(vals, errors="coerce").to_numpy(dtype=float)
    top_k = current_params().top_k
    chosen = statbarn or sb.STATISTIC_STATBARN.get(statistic)
    built = None
    if not margins and not normalize and (aggfunc is None or aggfunc == "mean"):
        # Frequencies and means come out of the evidence pass itself (one pass, not two).
        built = crosstab_with_evidence(
            row_keys, col_keys, numeric, statistic=statistic, top_k=top_k, statbarn=chosen
        )
    if built is not None:
        table, evidence = built
    else:
        table = pd.crosstab(
            row_keys,
            col_keys,
            values=vals,
            aggfunc=_pandas_aggfunc(aggfunc),
            margins=margins,
            margins_name=margins_name,
            dropna=False,
            normalize=normalize,
        )
        evidence = table_evidence(
            table,
            row_keys,
            col_keys,
            numeric,
            statistic=statistic,
            top_k=top_k,
            margins_name=margins_name,
            statbarn=chosen,
        )
    evidence.structural_zeros = _structural(structural_zeros)
    if normalize:
        evidence.extra["normalize"] = str(normalize)
    return _finish(table, evidence)


def pivot_table(
    data: pd.DataFrame,
    values: Any = None,
    index: Any = None,
    columns: Any = None,
    aggfunc: str | Callable[..., Any] = "mean",
    fill_value: Any = None,
    margins: bool = False,
    dropna: bool = True,
    margins_name: str = "All",
    observed: bool = False,
    sort: bool = True,
    *,
    statbarn: str | None = None,
    structural_zeros: Sequence[tuple[Any, Any]] | None = None,
) -> TrevorFrame:
    """``pandas.pivot_table`` with SDC evidence: one or several values columns, one
    statistic or a list (each (statistic, column) block carries its own evidence)."""
    del dropna
    if values is None:
        raise ValueError("name the values column to aggregate")
    value_name = values[0] if isinstance(values, list) else values
    index_names = index if isinstance(index, list) else [index] if index is not None else []
    column_names = (
        columns if isinstance(columns, list) else [columns] if columns is not None else []
    )
    if not index_names:
        raise ValueError("pivot_table needs an index")
    table = pd.pivot_table(
        data,
        values=values,
        index=index_names,
        columns=column_names or None,
        aggfunc=_pandas_aggfunc(aggfunc),
        fill_value=fill_value,
        margins=margins,
        dropna=False,
        margins_name=margins_name,
        observed=observed,
        sort=sort,
    )
    if isinstance(table, pd.Series):
        table = table.to_frame()
    frame = data.reset_index(drop=True)
    if isinstance(aggfunc, list | tuple) or (isinstance(values, list) and len(values) > 1):
        names = values if isinstance(values, list) else [values]
        numeric = {n: pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype=float) for n in names}
        evidence = _several(
            table,
            [frame[n] for n in index_names],
            [frame[n] for n in column_names],
            list(aggfunc) if isinstance(aggfunc, list | tuple) else [aggfunc],
            numeric if isinstance(values, list) else {None: numeric[value_name]},
            margins_name,
            statbarn,
            aggfunc_prefix=isinstance(aggfunc, list | tuple),
        )
        evidence.structural_zeros = _structural(structural_zeros)
        return _finish(table, evidence)
    statistic = _statistic(aggfunc)
    evidence = table_evidence(
        table,
        [frame[n] for n in index_names],
        [frame[n] for n in column_names],
        pd.to_numeric(frame[value_name], errors="coerce").to_numpy(dtype=float),
        statistic=statistic,
        top_k=current_params().top_k,
        margins_name=margins_name,
        statbarn=statbarn or sb.STATISTIC_STATBARN.get(statistic),
    )
    evidence.structural_zeros = _structural(structural_zeros)
    return _finish(table, evidence)


def _label(aggfunc: Any) -> str:
    """The label pandas gives a statistic's columns."""
    return aggfunc if isinstance(aggfunc, str) else getattr(aggfunc, "__name__", str(aggfunc))


def _several(
    table: pd.DataFrame,
    row_keys: list[pd.Series],
    col_keys: list[pd.Series],
    aggfuncs: list[Any],
    values: dict[Any, np.ndarray],
    margins_name: str,
    statbarn: str | None,
    aggfunc_prefix: bool = True,
) -> TableEvidence:
    """Evidence of a table with several (statistic, values column) blocks side by side.

    ``values``: the numeric values per column name (key None: the single values column,
    whose name is not in the column labels)."""
    nck = len(col_keys)
    columns = [c if isinstance(c, tuple) else (c,) for c in table.columns]
    blocks: dict[tuple[Any, ...], list[int]] = {}
    for j, c in enumerate(columns):
        blocks.setdefault(c[: len(c) - nck], []).append(j)
    by_label = {_label(_pandas_aggfunc(a)): a for a in aggfuncs}
    parts = []
    top_k = current_params().top_k
    for prefix, positions in blocks.items():
        aggfunc = by_label.get(prefix[0]) if aggfunc_prefix else aggfuncs[0]
        name = prefix[-1] if None not in values else None
        if aggfunc is None or name not in values:
            raise ValueError(f"cannot tell which statistic the columns {prefix} hold")
        statistic = _statistic(aggfunc)
        sub = table.iloc[:, positions]
        sub.columns = pd.MultiIndex.from_tuples([columns[j][len(prefix) :] for j in positions])
        if not nck:
            sub.columns = [prefix[-1]]
        ev = table_evidence(
            sub,
            row_keys,
            col_keys,
            values[name],
            statistic=statistic,
            top_k=top_k,
            margins_name=margins_name,
            statbarn=statbarn or sb.STATISTIC_STATBARN.get(statistic),
        )
        label = statistic if name is None else f"{statistic} of {name}"
        parts.append((positions, ev, label))
    rows = [r if isinstance(r, tuple) else (r,) for r in table.index]
    return combine("several", rows, columns, parts, nck)


_DESCRIBE_STATISTICS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
_DESCRIBE_STATBARN = {
    "count": "Frequencies",
    "mean": "LinearAggregations",
    "std": "Shape",
    "min": "Endpoints",
    "max": "Endpoints",
    "25%": "Position",
    "50%": "Position",
    "75%": "Position",
}


def describe(data: pd.DataFrame | pd.Series, by: Any = None) -> TrevorFrame:
    """Summary statistics (count, mean, std, min, quartiles, max), one row per numeric
    variable, or one row per group of ``by`` (column names of ``data`` or arrays) for a
    single variable. Each column is checked under its own statbarn."""
    if isinstance(data, pd.Series):
        frame = data.to_frame(name=data.name if data.name is not None else "value")
    else:
        frame = data
    frame = frame.reset_index(drop=True)
    keys: list[pd.Series] = []
    if by is not None:
        names = [by] if isinstance(by, str) else by
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            keys = [frame[n] for n in names]
            frame = frame.drop(columns=names)
        else:
            keys = _keys(by, "group")
    frame = frame.select_dtypes("number")
    top_k = current_params().top_k
    statistics = list(_DESCRIBE_STATISTICS)
    if keys:
        if frame.shape[1] != 1:
            raise ValueError("describe(by=...) summarises a single numeric variable")
        variable = frame.columns[0]
        table = frame[variable].groupby(keys, dropna=False).describe()[statistics]
        numeric = frame[variable].to_numpy(dtype=float)
        evidence = table_evidence(table, keys, [], numeric, statistic="describe", top_k=top_k)
    else:
        table = frame.describe().T[statistics]
        long_keys = pd.Series(np.repeat(frame.columns.to_numpy(dtype=object), len(frame)))
        numeric = frame.to_numpy(dtype=float).T.ravel()
        evidence = table_evidence(
            table, [long_keys], [], numeric, statistic="describe", top_k=top_k
        )
    evidence.extra["column_statistics"] = statistics
    evidence.extra["column_statbarns"] = [_DESCRIBE_STATBARN[s] for s in statistics]
    return _finish(table, evidence)


def hist(
    data: pd.DataFrame | pd.Series | Sequence[float],
    column: str | None = None,
    bins: int | Sequence[float] = 10,
    ax: Any = None,
    **kwargs: Any,
) -> Any:
    """A histogram (matplotlib Figure) whose evidence is the count in every bin.

    Counts use ``numpy.histogram`` (the maximum falls in the last bin), not ACRO's
    ``numpy.digitize``, which drops it (docs/sdc.md).
    """
    import matplotlib.pyplot as plt

    if isinstance(data, pd.DataFrame):
        if column is None:
            raise ValueError("name the column to plot")
        series = data[column]
    else:
        series = pd.Series(np.asarray(data, dtype=float), name=column)
    values = pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)
    counts, edges = np.histogram(values, bins=bins)
    if ax is None:
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    ax.hist(values, bins=edges, **kwargs)
    ax.set_xlabel(str(series.name) if series.name is not None else "value")
    ax.set_ylabel("count")
    labels = [
        f"[{edges[i]:.6g}, {edges[i + 1]:.6g}{']' if i == len(counts) - 1 else ')'}"
        for i in range(len(counts))
    ]
    evidence = TableEvidence(
        statistic="histogram",
        row_names=["bin"],
        col_names=[],
        rows=[(label,) for label in labels],
        cols=[("count",)],
        n=counts.reshape(-1, 1).astype(np.int64),
        value=counts.reshape(-1, 1).astype(float),
        kind="figure",
        statbarn="Frequencies",
        extra={
            "bin_edges": [float(e) for e in edges],
            "n_missing_dropped": int(series.isna().sum()),
        },
    )
    attach(fig, evidence)
    _announce(fig)
    return fig


def _model(kind: str, endog: Any, exog: Any, data: Any, **fit_kwargs: Any) -> Any:
    try:
        import statsmodels.api as sm
        import statsmodels.formula.api as smf
    except ImportError as exc:  # an optional extra
        raise ImportError(
            "trevor's models need statsmodels: pip install 'jupyter-trevor[models]'"
        ) from exc
    if isinstance(endog, str):
        factory = {"ols": smf.ols, "logit": smf.logit, "probit": smf.probit}[kind]
        model = factory(endog, data=data)
    else:
        cls = {"ols": sm.OLS, "logit": sm.Logit, "probit": sm.Probit}[kind]
        model = cls(endog, exog)
    if kind != "ols":
        fit_kwargs.setdefault("disp", 0)
    results = model.fit(**fit_kwargs)
    evidence = model_evidence(
        model=type(model).__name__,
        nobs=float(results.nobs),
        df_resid=float(results.df_resid),
        df_model=float(results.df_model),
        params=[str(p) for p in results.params.index] if hasattr(results.params, "index") else [],
    )
    attach(results, evidence)
    _announce(results)
    return results


def ols(endog: Any, exog: Any = None, data: Any = None, **fit_kwargs: Any) -> Any:
    """Ordinary least squares: ``ols(y, X)`` or ``ols("y ~ x1 + x2", data=df)``."""
    return _model("ols", endog, exog, data, **fit_kwargs)


def logit(endog: Any, exog: Any = None, data: Any = None, **fit_kwargs: Any) -> Any:
    return _model("logit", endog, exog, data, **fit_kwargs)


def probit(endog: Any, exog: Any = None, data: Any = None, **fit_kwargs: Any) -> Any:
    return _model("probit", endog, exog, data, **fit_kwargs)


def survival(time: Any, status: Any) -> TrevorFrame:
    """Kaplan-Meier table: one row per distinct event or censoring time."""
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=float)
    keep = ~(np.isnan(t) | np.isnan(s))
    t, s = t[keep], s[keep].astype(bool)
    times, inverse = np.unique(t, return_inverse=True)
    events = np.bincount(inverse, weights=s, minlength=len(times)).astype(np.int64)
    exits = np.bincount(inverse, minlength=len(times)).astype(np.int64)
    at_risk = len(t) - np.concatenate(([0], np.cumsum(exits)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - events / at_risk)
    table = pd.DataFrame(
        {
            "num at risk": at_risk,
            "num events": events,
            "num censored": exits - events,
            "Surv prob": surv,
        },
        index=pd.Index(times, name="time"),
    )
    evidence = survival_evidence(
        times=times.tolist(),
        at_risk=at_risk,
        events=events,
        censored=exits - events,
        nobs=len(t),
    )
    frame = TrevorFrame(table)
    frame._trevor_evidence = evidence
    return frame


def _announce(obj: Any) -> None:
    """Show the verdict under the cell that made a figure or a model."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display(HTML(verdict_banner(check(obj))))


def suppress(result: pd.DataFrame, **params: Any) -> TrevorFrame:
    """The suggested suppressed table (failing cells and their protectors blanked).

    Raises ValueError, saying why and what to do, when no suppression passes the audit."""
    report = check(result, **params)
    evidence = evidence_of(result)
    refusal = [f for f in report.findings if f.rule == "suppression"]
    if refusal:
        raise ValueError(refusal[0].message)
    if report.suppression is None or not isinstance(evidence, TableEvidence):
        return (
            _finish(pd.DataFrame(result), evidence)
            if isinstance(evidence, TableEvidence)
            else TrevorFrame(result)
        )
    table = suppression.apply(pd.DataFrame(result), report.suppression)
    suppressed = TableEvidence(**{**evidence.__dict__})
    suppressed.value = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    suppressed.extra = {
        **evidence.extra,
        "suppressed": report.suppression["primary"] + report.suppression["secondary"],
    }
    return _finish(table, suppressed)
