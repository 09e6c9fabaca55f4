"""Robustness's suite section: a named suite of corruptions (``--suite mnist-c``) scored as one.

Per corruption and model, the accuracy over the corruption's non-identity levels; with
``--compare``, the corruption error of each model relative to a baseline, normalised as
ImageNet-C's (Hendrycks & Dietterich, 2019): CE_c(f) = sum_s Err(f, c, s) / sum_s
Err(baseline, c, s) over the corruption's severities s, and mCE the mean of CE_c over the
corruptions. The baseline is the first ``--compare`` model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import kinterp


def corrupted(levels: Sequence[float], values: np.ndarray, identity: float) -> np.ndarray:
    """The values at the levels other than ``identity`` (all of them when only it is swept)."""
    keep = np.asarray(levels, dtype="float64") != identity
    return np.asarray(values)[keep] if keep.any() else np.asarray(values)


def corruption_error(model_errors: np.ndarray, baseline_errors: np.ndarray) -> float | None:
    """CE: a model's summed error over a corruption's severities over the baseline's (None
    when the baseline makes no error there: the ratio is undefined)."""
    total = float(np.sum(baseline_errors))
    return None if total == 0 else float(np.sum(model_errors)) / total


def mean_ce(errors: dict[str, float | None]) -> float | None:
    """mCE: the mean CE over the corruptions whose CE is defined (None: none is)."""
    defined = [v for v in errors.values() if v is not None]
    return float(np.mean(defined)) if defined else None


class SuiteSection:
    """Writes the suite's section and metrics from robustness's curves.

    Args:
        report: the run's ``ReportBuilder``.
        suite: the suite's name (``mnist-c``).
        families: the suite's families by name, in the suite's order.
        curves: per family, one curve per model (``model``, ``levels``, ``accuracy``).
        main: the analysed model's name (first in every family's curves).
    """

    def __init__(self, report, suite: str, families: dict, curves: dict, main: str):
        self.report, self.suite, self.main = report, suite, main
        self.families, self.curves = families, curves
        self.models = [c.model for c in next(iter(curves.values()))]
        self.title = f"{suite}: accuracy per corruption"

    def accuracy(self, model: str, family: str) -> np.ndarray:
        """``model``'s accuracies at ``family``'s non-identity levels."""
        curve = next(c for c in self.curves[family] if c.model == model)
        return corrupted(curve.levels, curve.accuracy, self.families[family].identity)

    def errors(self) -> dict[str, dict[str, float | None]]:
        """Per model after the baseline, per corruption, its CE against the baseline."""
        baseline = self.models[1]
        return {
            model: {
                family: corruption_error(
                    1 - self.accuracy(model, family), 1 - self.accuracy(baseline, family)
                )
                for family in self.families
            }
            for model in self.models
            if model != baseline
        }

    def write(self) -> None:
        """The section (text and bar chart, its table folded below); the metrics
        ``suite_accuracy`` (the analysed model's, per corruption), ``mce`` and
        ``mce_by_model``; and ``data/<suite>.json``: every model's accuracy per corruption
        and per level, its CE and mCE."""
        fmt = kinterp.format_number
        families = list(self.families)
        mean = {m: {f: float(np.mean(self.accuracy(m, f))) for f in families} for m in self.models}
        text = (
            f"The {len(families)} corruptions of {self.suite}, each at its levels other than the "
            "clean one; accuracy is the mean over those levels. "
        )
        columns, rows = ["corruption", *(f"{m} accuracy" for m in self.models)], []
        formats: list[str | None] = [None, *("pct" for _ in self.models)]
        ce = self.errors() if len(self.models) > 1 else {}
        if ce:
            baseline = self.models[1]
            mce = {m: mean_ce(v) for m, v in ce.items()}
            undefined = [f for f in families if ce[self.main][f] is None]
            text += (
                f"Corruption error (CE) of a model: its error summed over a corruption's levels "
                f"divided by the baseline's, the baseline being the first --compare model, "
                f"{baseline} (ImageNet-C's normalisation); mCE is the mean CE over the "
                f"corruptions: below 1, fewer errors than {baseline}. "
                + ", ".join(
                    f"{m}: mCE {fmt(v, 'float') if v is not None else 'n/a'}"
                    for m, v in mce.items()
                )
                + "."
            )
            if undefined:
                text += (
                    f" CE is n/a where {baseline} makes no error ({', '.join(undefined)}); mCE "
                    "leaves those corruptions out."
                )
            columns += [f"{m} CE" for m in ce]
            formats += ["float" for _ in ce]
        else:
            text += "Pass --compare BASELINE to get each model's mean corruption error (mCE)."
        for family in families:
            row = [family, *(mean[m][family] for m in self.models)]
            row += ["n/a" if ce[m][family] is None else ce[m][family] for m in ce]
            rows.append(row)
        self.report.text(self.title, text)
        self.report.key(self.title)
        table = f"{self.title}: the numbers"  # folded, so the chart is on the first screen
        self.report.collapse(table)
        self.report.table(table, columns, rows, formats=formats)
        self.report.bar_plot(
            self.title,
            {m: [mean[m][f] for f in families] for m in self.models},
            labels=families,
            xlabel="corruption",
            ylabel="accuracy",
            caption=f"Accuracy per {self.suite} corruption, one bar per model.",
        )
        self.report.metric("suite_accuracy", mean[self.main])
        if ce:
            self.report.metric("mce", mce.get(self.main))
            self.report.metric("mce_by_model", mce)
        self.report.json(
            self.suite,
            {
                "suite": self.suite,
                "baseline": self.models[1] if ce else None,
                "accuracy": mean,
                "level_accuracy": {m: self.level_accuracy(m) for m in self.models},
                "ce": ce,
                "mce": mce if ce else {},
            },
        )

    def level_accuracy(self, model: str) -> dict[str, dict[str, float]]:
        """Per corruption, ``model``'s accuracy at each level swept (the clean one too)."""
        out = {}
        for family, curves in self.curves.items():
            curve = next(c for c in curves if c.model == model)
            spec = self.families[family]
            out[family] = {
                spec.level_text(level): float(value)
                for level, value in zip(curve.levels, curve.accuracy, strict=True)
            }
        return out
