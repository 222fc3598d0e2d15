"""The statbarn catalogue: output types that share disclosure risks and checks.

Ids and URIs are the ones ACRO ships in ``acro/statbarns.json`` (the SACRO statbarn ontology),
so reports and release crates name statbarns the same way ACRO and SACRO do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .params import DEFAULT, Params

URI_PREFIX = "https://www.w3id.org/statbarnsdc#"

# Rule names used in findings (SPEC §9) and in each statbarn's ``checks`` list.
THRESHOLD = "threshold"
ZEROS = "zeros"
CLASS_DISCLOSURE = "class_disclosure"
NK_RULE = "nk_rule"
P_RATIO = "p_ratio"
NEGATIVE = "negative"
MISSING = "missing"
DOF = "dof"
ENDPOINTS = "endpoints"
SURVIVAL = "survival"
LINKED_TABLES = "linked_tables"
MANUAL = "manual"

# Which parameters each rule reads; a statbarn's ``params`` are the union over its checks.
RULE_PARAMS: dict[str, tuple[str, ...]] = {
    THRESHOLD: ("threshold",),
    ZEROS: ("zeros_are_disclosive",),
    CLASS_DISCLOSURE: ("zeros_are_disclosive",),
    NK_RULE: ("nk_n", "nk_k"),
    P_RATIO: ("p_ratio",),
    NEGATIVE: (),
    MISSING: ("check_missing_values",),
    DOF: ("dof",),
    ENDPOINTS: (),
    SURVIVAL: ("survival_threshold",),
    LINKED_TABLES: (),
    MANUAL: (),
}


@dataclasses.dataclass(frozen=True)
class Statbarn:
    id: str
    name: str
    description: str
    guidance: str
    checks: tuple[str, ...]
    risks: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    # Statbarns whose outputs a human must always judge, whatever the automatic checks say.
    always_review: bool = False

    @property
    def uri(self) -> str:
        return URI_PREFIX + self.id

    def default_params(self, params: Params = DEFAULT) -> dict[str, Any]:
        names: list[str] = []
        for check in self.checks:
            for name in RULE_PARAMS.get(check, ()):
                if name not in names:
                    names.append(name)
        return {name: getattr(params, name) for name in names}

    def to_dict(self, params: Params = DEFAULT) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": self.uri,
            "description": self.description,
            "guidance": self.guidance,
            "checks": list(self.checks),
            "params": self.default_params(params),
            "risks": list(self.risks),
            "examples": list(self.examples),
            "always_review": self.always_review,
        }


_TABLE_NOTE = (
    " Tables built from the same data as outputs already released can be differenced: say in"
    " the justification which released tables this one relates to."
)

_ENTRIES: tuple[Statbarn, ...] = (
    Statbarn(
        id="Frequencies",
        name="Frequencies",
        description="Counts of units: frequency tables and crosstabs, histograms, bar and pie"
        " charts of counts, heatmaps, and counts shown as proportions of a total.",
        guidance="Every cell must count at least `threshold` units. Empty cells (zeros) reveal"
        " that nobody in the group has the attribute: suppress them or declare them structural"
        " (impossible by definition) in the suppression notes. A row or column whose whole"
        " count falls in one cell discloses the attribute of everyone in that group." + _TABLE_NOTE,
        checks=(THRESHOLD, ZEROS, CLASS_DISCLOSURE, LINKED_TABLES),
        risks=("ClassDisclosure", "Differencing", "LowCount"),
        examples=("FrequencyTable", "Crosstabs", "Histogram", "PieChart", "Heatmap"),
    ),
    Statbarn(
        id="LinearAggregations",
        name="Linear aggregations",
        description="Sums, means, totals and linear concentration ratios, in tables or bar"
        " charts of means.",
        guidance="Each cell needs at least `threshold` contributors, and no contributor may"
        " dominate: the largest `nk_n` values must be under `nk_k` of the cell total (N-k"
        " rule), and the total less the two largest must be at least `p_ratio` of the largest"
        " (p% rule). Negative values make dominance undefined and are reviewed by hand."
        + _TABLE_NOTE,
        checks=(THRESHOLD, NK_RULE, P_RATIO, NEGATIVE, MISSING, LINKED_TABLES),
        risks=("Dominance", "Differencing", "LowCount"),
        examples=("Mean", "Sum", "BarGraph", "TrimmedMean"),
    ),
    Statbarn(
        id="Position",
        name="Position",
        description="Medians, quartiles, percentiles, inter-quartile ranges and box plots.",
        guidance="Each group needs at least `threshold` units; a percentile of a small group"
        " is often one person's value. Empty groups are reported like zeros in a frequency"
        " table. Box-plot whiskers and outliers are real values: trim them.",
        checks=(THRESHOLD, ZEROS, MISSING),
        risks=("ClassDisclosure", "LowCount"),
        examples=("Median", "Quartiles", "InterquartileRange", "BoxPlot"),
    ),
    Statbarn(
        id="Endpoints",
        name="Endpoints",
        description="Minimum and maximum values and ranges.",
        guidance="Minima and maxima are the values of single individuals. They need at least"
        " `threshold` units per group and are always reviewed by a checker; prefer"
        " percentiles (for example the 5th and 95th) or rounded bounds.",
        checks=(THRESHOLD, ZEROS, ENDPOINTS, MISSING),
        risks=("ClassDisclosure", "LowCount"),
        examples=("Minimum", "Maximum", "Range"),
    ),
    Statbarn(
        id="Mode",
        name="Mode",
        description="The most frequent value or values of a variable.",
        guidance="A mode reveals that the modal value is shared by the most units; empty"
        " groups are reported like zeros. State whether related frequency tables exist."
        + _TABLE_NOTE,
        checks=(ZEROS, LINKED_TABLES),
        risks=("Differencing", "ClassDisclosure"),
        examples=("ModeCalculation",),
    ),
    Statbarn(
        id="Shape",
        name="Shape",
        description="Standard deviations, variances, skewness and kurtosis.",
        guidance="Each statistic needs enough degrees of freedom: the number of non-missing"
        " values less one must be at least `dof`. A standard deviation of zero reveals that"
        " everyone shares one value.",
        checks=(DOF, MISSING),
        risks=("LowDOF",),
        examples=("StandardDeviation", "Skewness", "Kurtosis"),
    ),
    Statbarn(
        id="CorrelationCoefficients",
        name="Correlation and regression coefficients",
        description="Regression coefficients (OLS, logit, probit and other models) and"
        " correlation coefficients.",
        guidance="The model's residual degrees of freedom must be at least `dof`, so that the"
        " model is not a lookup table of individual records. Avoid saturated models and"
        " single binary explanatory variables that isolate a small group.",
        checks=(DOF,),
        risks=("LowDOF",),
        examples=("LinearRegressionCoefficients", "Logit", "Probit", "PearsonsR"),
    ),
    Statbarn(
        id="StatisticalHypothesisTests",
        name="Statistical hypothesis tests",
        description="Test statistics and their p-values, R-squared, confidence intervals.",
        guidance="Test statistics are safe when they rest on at least `dof` degrees of"
        " freedom. Report them without the underlying small tables.",
        checks=(DOF,),
        risks=("LowDOF",),
        examples=("ChiSquaredTest", "IndependentTtests", "RSquared", "ConfidenceIntervals"),
    ),
    Statbarn(
        id="CalculatedRatios",
        name="Calculated ratios",
        description="Odds ratios, risk ratios, hazard ratios and similar comparisons of groups.",
        guidance="A checker always reviews ratios: together with one published margin they"
        " can reveal the cells of the table they come from. Supply the underlying contingency"
        " table (as evidence) so the checker can apply the threshold and dominance rules.",
        checks=(MANUAL, THRESHOLD, NK_RULE, P_RATIO, NEGATIVE),
        risks=("AuxiliaryInformation", "Dominance"),
        examples=("OddRatios", "RiskRatios"),
        always_review=True,
    ),
    Statbarn(
        id="HazardSurvivalTables",
        name="Hazard and survival tables",
        description="Kaplan-Meier and life tables and the curves drawn from them.",
        guidance="Survival tables are always reviewed. Each reported step must rest on at"
        " least `survival_threshold` units at risk; group event times so that no time point"
        " has a single exit, and use relative rather than calendar dates.",
        checks=(MANUAL, SURVIVAL),
        risks=("ImplicitTables", "LowDOF"),
        examples=("KaplanMeier", "SurvivalTables", "HazardTables"),
        always_review=True,
    ),
    Statbarn(
        id="NonLinearConcentrationRatios",
        name="Non-linear concentration ratios",
        description="The Herfindahl-Hirschman index and other non-linear concentration measures.",
        guidance="The index needs at least `threshold` contributors and must not be dominated"
        " by one or two of them (N-k and p% rules).",
        checks=(THRESHOLD, NK_RULE, P_RATIO, NEGATIVE),
        risks=("LowCount", "Dominance"),
        examples=("HerfindahlHirschmanIndex",),
    ),
    Statbarn(
        id="GiniCoefficient",
        name="Gini coefficient",
        description="Gini coefficients and Lorenz curves.",
        guidance="Each coefficient needs at least `threshold` contributors; a Gini of 100%"
        " means a single unit holds everything.",
        checks=(THRESHOLD,),
        risks=("LowCount",),
        examples=("GiniCurves",),
    ),
    Statbarn(
        id="Clusters",
        name="Clusters",
        description="Results of cluster analysis: groupings of similar units.",
        guidance="No automatic check exists: a checker reviews cluster outputs. Report cluster"
        " sizes (each at least `threshold`) and centroids, never members.",
        checks=(MANUAL,),
        examples=("ClusterAnalysis",),
        always_review=True,
    ),
    Statbarn(
        id="LinkedMultilevelTables",
        name="Linked and multilevel tables",
        description="Nested or linked tables: two- and three-way and hierarchical contingency"
        " tables summarising the same units.",
        guidance="A checker reviews linked tables together: list every table built from the"
        " same units in the justification so the checker can look for differencing.",
        checks=(MANUAL, THRESHOLD, ZEROS),
        examples=("LinkedTables",),
        always_review=True,
    ),
)

CATALOGUE: dict[str, Statbarn] = {entry.id: entry for entry in _ENTRIES}

# Statbarn implied by a statistic when the kernel helpers compute it.
STATISTIC_STATBARN: dict[str, str] = {
    "count": "Frequencies",
    "size": "Frequencies",
    "sum": "LinearAggregations",
    "mean": "LinearAggregations",
    "median": "Position",
    "quantile": "Position",
    "min": "Endpoints",
    "max": "Endpoints",
    "mode": "Mode",
    "std": "Shape",
    "var": "Shape",
    "histogram": "Frequencies",
    "model": "CorrelationCoefficients",
    "survival": "HazardSurvivalTables",
}


def get(statbarn_id: str | None) -> Statbarn | None:
    if statbarn_id is None:
        return None
    return CATALOGUE.get(statbarn_id)


def ids() -> list[str]:
    return list(CATALOGUE)


def catalogue_json(params: Params = DEFAULT) -> dict[str, Any]:
    """The body of GET /api/v1/statbarns."""
    return {"items": [entry.to_dict(params) for entry in CATALOGUE.values()]}
