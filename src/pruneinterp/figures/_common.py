"""Helpers shared by the figure modules: saving, axes, the final epoch of every run, arm selection,
method families, MIS per run. x-axes: Frankle & Bau figures use "% of prunable weights remaining"
(log scale, reversed as in the lottery-ticket papers); von Rad & Seuffert figures use the pruning
rate "% of prunable weights removed" (linear, as in their figures). Both are measured from the masks
(``sparsity`` of the accuracy table = fraction of prunable weights removed); the fraction of *all*
parameters removed is in the study's ``sparsity.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from .. import columns  # noqa: E402
from ..io import atomic_path  # noqa: E402


X_LABEL = "% of prunable weights remaining"


def _save(fig: plt.Figure, outputs: Sequence[str], dpi: int) -> None:
    for out in outputs:
        suffix = Path(out).suffix
        with atomic_path(out) as tmp:
            fmt = suffix.lstrip(".")
            # no creation date in PDFs (PNGs have none): the same tables give the same bytes
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata)
    plt.close(fig)


def _remaining(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["remaining"] = 100.0 * (1.0 - df["sparsity"])
    return df


def _xaxis(ax: plt.Axes) -> None:
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = [100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]
    lo, hi = sorted(ax.get_xlim())
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(X_LABEL)
    ax.grid(True, which="both", alpha=0.3)


def final_accuracy(acc: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    last = acc[acc["split"] == split]
    last = last[last["epoch"] == last.groupby(["seed", "level"])["epoch"].transform("max")]
    return _remaining(last)


RATE_LABEL = "pruning rate (% of prunable weights removed)"


ARM = columns.ARM


FAMILY_COLORS = {"magnitude": "tab:red", "structured": "tab:blue", "connection": "tab:green"}


def final_runs(acc: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    """The last epoch of every run (arm, seed, level), with ``rate`` = % of prunable weights removed
    and ``top1_pct``."""
    df = acc[acc["split"] == split]
    df = df[df["epoch"] == df.groupby(ARM + ["seed", "level"])["epoch"].transform("max")].copy()
    df["rate"] = 100.0 * df["sparsity"]
    df["top1_pct"] = 100.0 * df["top1"]
    return df


def _select(df: pd.DataFrame, figure: str, **arm: str) -> pd.DataFrame:
    sub = df
    for key, value in arm.items():
        sub = sub[sub[key] == value]
    if sub.empty:
        have = sorted(set(map(tuple, df[ARM].drop_duplicates().values.tolist())))
        raise ValueError(f"{figure}: the accuracy table has no runs with {arm}; it has (method, schedule, retrain) "
                         f"{have}")
    return sub


def _rate_axis(ax: plt.Axes) -> None:
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("top-1 validation accuracy (%)")
    ax.set_xlim(-2, 102)
    ax.grid(True, alpha=0.3)


FAMILY_MARKERS = {"magnitude": "o", "structured": "s", "connection": "^"}


def _family(method: str) -> tuple[str, str, str]:
    """(colour, line style, marker) of a method: colour and marker by family (magnitude, structured,
    connection), dashed for the random counterpart."""
    base = method.removeprefix("random_")
    family = {"global": "magnitude", "layerwise": "magnitude"}.get(base, base.split("_")[0])
    return (FAMILY_COLORS.get(family, "tab:purple"), "--" if method.startswith("random_") else "-",
            FAMILY_MARKERS.get(family, "D"))


def _backend(mis: pd.DataFrame) -> str:
    """The image-similarity backend the MIS table was computed with (named on every MIS figure)."""
    return ", ".join(map(str, dict.fromkeys(mis["backend"]))) if "backend" in mis else "unknown backend"


def _mis_per_run(mis: pd.DataFrame) -> pd.DataFrame:
    """Mean MIS over the scored (non-constant) units of every run, and the number of constant units."""
    keys = [c for c in ("method", "schedule", "retrain", "seed", "level", "sparsity") if c in mis]
    if mis["n_tasks"].eq(0).all():
        raise ValueError("no scored units in the MIS table (every unit constant)")
    g = mis.groupby(keys, as_index=False).agg(mis=("mis", "mean"), constant=("n_tasks", lambda v: int((v == 0).sum())))
    g["rate"] = 100.0 * g["sparsity"]
    return g


def chain_correlations(df: pd.DataFrame, x: str, y: str, chains: list[str], method: str = "spearman") -> pd.DataFrame:
    """Correlation of ``x`` and ``y`` within each pruning chain (rows grouped by ``chains``): the
    levels of one chain are not independent samples, so a correlation pooled over checkpoints gets
    no p-value here; the chain is the unit. Columns: the chain keys, ``n`` (levels), ``r``."""
    from scipy.stats import pearsonr, spearmanr

    corr = {"spearman": spearmanr, "pearson": pearsonr}[method]
    rows = []
    for key, g in df.groupby(chains, sort=True):
        g = g[[x, y]].dropna()
        ok = len(g) > 2 and g[x].nunique() > 1 and g[y].nunique() > 1
        r = float(corr(g[x], g[y])[0]) if ok else float("nan")
        rows.append({**dict(zip(chains, key if isinstance(key, tuple) else (key,))), "n": len(g), "r": r})
    return pd.DataFrame(rows, columns=[*chains, "n", "r"])


def across_seeds(r_by_seed: pd.Series, symbol: str) -> str:
    """A per-seed correlation summarised over seeds, the independent unit: each seed's value, their
    mean and sd, and a one-sample t-test of the Fisher-z values against 0 when there are >= 3 seeds."""
    from scipy.stats import ttest_1samp

    r = r_by_seed.dropna()
    values = ", ".join(f"{v:.2f}" for v in r)
    if len(r) == 0:
        return f"{symbol}: not defined (constant values)"
    if len(r) == 1:
        return f"{symbol} = {values} (n = 1 seed: no test)"
    text = f"{symbol} per seed: {values}; mean {r.mean():.2f} (sd {r.std():.2f}), n = {len(r)} seeds"
    if len(r) >= 3:
        z = np.arctanh(r.clip(-0.999999, 0.999999))
        text += f"; t-test over seeds (Fisher z): p = {ttest_1samp(z, 0.0).pvalue:.2g}"
    return text
