"""The verdict page: each paper's headline claims against this run, computed from the study tables.

For every claim: the paper's statement, this run's numbers (computed here from the tidy tables,
never typed), and a verdict -- ``agree``, ``disagree`` or ``cannot tell`` -- with its reason and its
unit of replication. The rules are fixed in the code below and printed with each verdict, so a
reader can check them; they are deliberately simple (thresholds of one accuracy point, of the dense
network's bootstrap interval, and agreement of every independent unit: seed or pruning chain), and
a claim whose data cannot decide it says so instead of guessing.

Output: ``results/summary.md`` and ``results/summary.html`` (rule ``summary``, a report entry); the
README's "What the default run shows" is the markdown of a default run, pasted in by
``pruneinterp summary --readme README.md`` (between the ``verdicts`` markers), so the two never
disagree.

Only pandas and numpy: no torch.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

AGREE, DISAGREE, CANNOT = "agree", "disagree", "cannot tell"
ACC_POINTS = 1.0  # "accuracy matches": within this many top-1 points of the dense model
BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"


@dataclass
class Claim:
    paper: str
    name: str
    statement: str  # the paper's claim, in its words where possible
    verdict: str
    reason: str
    unit: str  # the unit of replication and n
    numbers: list[str] = field(default_factory=list)  # lines of this run's numbers


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _read(root: Path, study: str, table: str) -> pd.DataFrame | None:
    path = root / study / "tables" / f"{table}.csv"
    return pd.read_csv(path) if path.is_file() else None


def final_val(acc: pd.DataFrame) -> pd.DataFrame:
    """Top-1 % on the validation split at the last epoch of every run."""
    val = acc[acc["split"] == "val"]
    keys = ["seed", "method", "schedule", "retrain", "level"]
    last = val[val["epoch"] == val.groupby(keys)["epoch"].transform("max")]
    out = last[keys + ["sparsity", "top1"]].copy()
    out["top1"] = 100.0 * out["top1"]
    out["remaining"] = 100.0 * (1.0 - out["sparsity"])
    return out.reset_index(drop=True)


def _verdict(same: bool | None, holds: str = AGREE) -> str:
    """The verdict when a rule holds in every unit of replication (``holds``), in none (the other
    one), or in some but not all (cannot tell)."""
    if same is None:
        return CANNOT
    return holds if same else (DISAGREE if holds == AGREE else AGREE)


def _all_same(values: list[bool]) -> bool | None:
    """True if all hold, False if none holds, None if the units of replication split."""
    if all(values):
        return True
    if not any(values):
        return False
    return None


# ---- Frankle & Bau -----------------------------------------------------------------------------


def fb_claims(root: Path) -> list[Claim]:
    acc, summ, units, base = (_read(root, "frankle_bau", t) for t in
                              ("accuracy", "dissection_summary", "dissection_units", "dissection_baseline"))
    if acc is None or summ is None:
        return []
    paper = "Frankle & Bau 2019"
    fv = final_val(acc)
    seeds = sorted(fv["seed"].unique())
    unit = f"the seed: one pruning chain each, n = {len(seeds)} ({', '.join(map(str, seeds))})"
    claims = []

    # 1. accuracy holds down to 16.8% remaining
    lines, holds = [], []
    for s in seeds:
        f = fv[fv["seed"] == s].sort_values("level")
        dense = f.loc[f["level"] == 0, "top1"].iloc[0]
        upper = f[(f["remaining"] >= 16.8 - 1e-6) & (f["level"] > 0)]
        worst = (upper["top1"] - dense).min() if len(upper) else float("nan")
        last = f.iloc[-1]
        holds.append(bool(worst >= -ACC_POINTS))
        lines.append(f"seed {s}: dense {dense:.1f}%; worst level at ≥ 16.8% remaining {worst:+.1f} points; "
                     f"at {last['remaining']:.3g}% remaining {last['top1']:.1f}%")
    same = _all_same(holds)
    claims.append(Claim(
        paper, "Accuracy under pruning (Fig. 1)",
        "When 16.8% of parameters or more remain, accuracy matches that of the original network.",
        _verdict(same),
        f"every level with ≥ 16.8% of prunable weights remaining is within {ACC_POINTS:g} point of (or above) its "
        f"dense model in {'every' if same else ('no' if same is False else 'some but not every')} chain",
        unit, lines))

    # 2. interpretability follows accuracy (Hypothesis A)
    layer_sum = summ.groupby(["seed", "level"]).agg(units=("interpretable_units", "sum"),
                                                    lo=("interpretable_units_lo", "sum"),
                                                    concepts=("unique_concepts", "sum")).reset_index()
    lines, early = [], []
    for s in seeds:
        f = fv[fv["seed"] == s].set_index("level")
        d = layer_sum[layer_sum["seed"] == s].set_index("level").join(f[["top1", "remaining"]], how="inner")
        dense_u, dense_lo, dense_acc = d.loc[0, "units"], d.loc[0, "lo"], d.loc[0, "top1"]
        fell = d[(d.index > 0) & (d["units"] < dense_lo)]
        acc_ok = d["top1"] >= dense_acc - ACC_POINTS
        fell_while_ok = fell[acc_ok.reindex(fell.index)]
        early.append(len(fell_while_ok) > 0)
        first = (f"first below it at {fell.iloc[0]['remaining']:.3g}% remaining ({int(fell.iloc[0]['units'])} units, "
                 f"accuracy {fell.iloc[0]['top1']:.1f}%)" if len(fell) else "never below it")
        lines.append(f"seed {s}: dense {int(dense_u)} interpretable units (bootstrap lower bound {dense_lo:g}), "
                     f"{first}; last level {int(d.iloc[-1]['units'])} units at {d.iloc[-1]['top1']:.1f}%")
    same = _all_same(early)
    claims.append(Claim(
        paper, "Interpretability follows accuracy (Fig. 2, Hypothesis A)",
        "Sparse pruning does not reduce interpretability until so many parameters are pruned that accuracy "
        "declines.",
        _verdict(same, holds=DISAGREE),
        "a level counts as 'less interpretable' when its interpretable units fall below the dense model's 95% "
        f"bootstrap lower bound, and as 'accurate' when its top-1 is within {ACC_POINTS:g} point of the dense model; "
        + ("in every chain interpretability fell at an accurate level" if same else
           "in no chain did interpretability fall at an accurate level" if same is False else
           "the chains disagree"),
        unit, lines))

    # 3. concepts by category: higher-level concepts are the volatile ones
    cats = [c for c in ("object", "part", "scene", "texture", "color") if f"concepts_{c}" in summ.columns]
    if units is not None:
        u = units[units["interpretable"].astype(bool)]
        per = u.groupby(["level", "category"]).size().unstack(fill_value=0)
        last = int(per.index.max()) if len(per) else 0
        dense_row = per.loc[0] if 0 in per.index else pd.Series(dtype=float)
        last_row = per.loc[last] if last in per.index else pd.Series(dtype=float)
        lines = [f"interpretable units summed over the {len(seeds)} chains, dense → last level (level {last}): "
                 + ", ".join(f"{c} {int(dense_row.get(c, 0))} → {int(last_row.get(c, 0))}" for c in cats)]
        high = [c for c in ("scene", "object") if dense_row.get(c, 0) > 0]
        low = [c for c in ("part", "texture", "color") if dense_row.get(c, 0) > 0]
        keep = {c: last_row.get(c, 0) / dense_row[c] for c in high + low}
        if sum(dense_row.get(c, 0) for c in low) < 3 or not high:
            verdict, reason = CANNOT, ("fewer than 3 dense units of the lower-level categories (part, texture, colour), "
                                       "or none of the higher ones (scene, object): nothing to compare")
        else:
            kh = sum(last_row.get(c, 0) for c in high) / sum(dense_row[c] for c in high)
            kl = sum(last_row.get(c, 0) for c in low) / sum(dense_row[c] for c in low)
            lines.append(f"kept at the last level: higher-level (scene, object) {100 * kh:.0f}%, lower-level "
                         f"(part, texture, colour) {100 * kl:.0f}%; per category "
                         + ", ".join(f"{c} {100 * k:.0f}%" for c, k in keep.items()))
            verdict = AGREE if kh < kl else DISAGREE
            reason = ("the higher-level categories keep a smaller share of their dense units than the lower-level ones"
                      if kh < kl else "the higher-level categories keep at least the share the lower-level ones keep")
            reason += " (summed over chains; one share per category, so no test)"
        claims.append(Claim(
            paper, "Concepts by category (Fig. 3)",
            "Higher-level concepts like scenes and objects seem to be more volatile in the face of pruning, and more "
            "likely to disappear as interpretability and accuracy drop.",
            verdict, reason, unit, lines))

    # 4. consistency at ~11% remaining
    if units is not None:
        from .tables import consistency

        cons = consistency(units)
        cons["remaining"] = 100 * (1 - cons["sparsity"])
        lines, still, same_c = [], [], []
        for s in seeds:
            c = cons[(cons["seed"] == s) & (cons["level"] > 0)]
            if not len(c):
                continue
            row = c.iloc[(c["remaining"] - 11.0).abs().argsort().iloc[0]]
            still.append(row["pct_still_interpretable"])
            same_c.append(row["pct_same_concept"])
            lines.append(f"seed {s} at {row['remaining']:.3g}% remaining: {_pct(row['pct_still_interpretable'])}% of "
                         f"{int(row['dense_interpretable'])} dense-interpretable units still interpretable, "
                         f"{_pct(row['pct_same_concept'])}% of {int(row['both_interpretable'])} with the same concept")
        ok = [x >= 60.0 for x in still]
        same = _all_same(ok) if ok else None
        claims.append(Claim(
            paper, "Consistency of units (Fig. 4)",
            "Nearly 80% of the originally interpretable units remain interpretable even after 89% of parameters have "
            "been pruned; about 70% of them keep the same concept.",
            _verdict(same),
            "agree when every chain keeps at least 60% of its dense-interpretable units at the level nearest 11% "
            "remaining, disagree when none does" + ("" if same is not None else "; the chains split"),
            unit, lines))

    # 5. random baseline
    if base is not None:
        b = base.groupby("seed")["interpretable_units"].sum()
        claims.append(Claim(
            "Bau et al. 2017 (NetDissect)", "Untrained networks",
            "Units of a randomly initialised network are (almost) never interpretable.",
            AGREE if (b == 0).all() else DISAGREE if (b > 0).all() else CANNOT,
            "counts of interpretable units in each seed's untrained network",
            f"the seed, n = {len(b)}", [", ".join(f"seed {s}: {int(v)}" for s, v in b.items())]))
    return claims


# ---- von Rad & Seuffert ------------------------------------------------------------------------


def _mis_by_model(mis: pd.DataFrame) -> pd.DataFrame:
    keys = ["seed", "method", "schedule", "retrain", "level"]
    return mis.groupby(keys).agg(mis=("mis", "mean"), sparsity=("sparsity", "first")).reset_index()


def vrs_claims(root: Path) -> list[Claim]:
    acc, mis = _read(root, "von_rad_seuffert", "accuracy"), _read(root, "von_rad_seuffert", "mis")
    if acc is None:
        return []
    paper = "von Rad & Seuffert 2024"
    fv = final_val(acc)
    seeds = sorted(fv["seed"].unique())
    unit = f"the seed (one chain per arm), n = {len(seeds)}"
    claims = []
    top = fv[(fv["schedule"] == "oneshot") & (fv["method"] == "magnitude_global")]
    if len(top):
        hi = top["level"].max()
        lines, ok = [], []
        for s in seeds:
            t = top[(top["seed"] == s)]
            dense = t.loc[t["level"] == 0, "top1"].mean()
            r = {k: t[(t["level"] == hi) & (t["retrain"] == k)]["top1"].mean() for k in ("none", "finetune_sgd")}
            sp = 100 * t[t["level"] == hi]["sparsity"].mean()
            it = fv[(fv["seed"] == s) & (fv["schedule"] == "iterative") & (fv["method"] == "magnitude_global")]
            line = (f"seed {s}: dense {dense:.1f}%; one-shot global L1 at {sp:.3g}% removed: no fine-tuning "
                    f"{_pct(r['none'])}%, SGD fine-tuning {_pct(r['finetune_sgd'])}%")
            better = r["finetune_sgd"] > r["none"]
            if len(it):
                near = it.iloc[(it["sparsity"] - it["sparsity"].max()).abs().argsort().iloc[0]]
                one = t[(t["retrain"] == "finetune_sgd") & (t["level"] > 0)]
                closest = one.iloc[(one["sparsity"] - near["sparsity"]).abs().argsort().iloc[0]] if len(one) else None
                if closest is not None:
                    line += (f"; iterative at {100 * near['sparsity']:.3g}% {near['top1']:.1f}% vs one-shot at "
                             f"{100 * closest['sparsity']:.3g}% {closest['top1']:.1f}%")
                    better = better and near["top1"] > closest["top1"]
            ok.append(bool(better))
            lines.append(line)
        same = _all_same(ok)
        claims.append(Claim(
            paper, "Fine-tuning and iterative pruning (Figs. 1–3)",
            "Accuracy drops drastically without fine-tuning; iterative pruning yields higher accuracy than one-shot "
            "pruning at the same rate.",
            _verdict(same),
            "agree when fine-tuning beats no fine-tuning at the highest rate and iterative beats one-shot at the "
            "highest iterative rate, in every seed",
            unit, lines))
    ft = fv[(fv["schedule"] == "oneshot") & (fv["retrain"] == "finetune_sgd") & (fv["level"] > 0)]
    methods = [m for m in ("magnitude_global", "structured_l1", "connection_l1") if m in set(ft["method"])]
    if "connection_l1" in methods and len(methods) > 1:
        hi = ft[ft["method"] == "connection_l1"]["level"].max()
        res = ft[ft["level"] == hi].groupby("method")["top1"].mean()
        sp = 100 * ft[ft["level"] == hi]["sparsity"].mean()
        best = res.idxmax()
        claims.append(Claim(
            paper, "Which method keeps accuracy (Fig. 4)",
            "Connection Sparsity pruning outperformed both Unstructured and Structured pruning in preserving accuracy.",
            AGREE if best == "connection_l1" else DISAGREE,
            f"the method with the highest fine-tuned accuracy at the highest rate is {best}"
            + ("" if len(seeds) > 1 else " (one seed: no interval)"),
            unit, [f"at ~{sp:.3g}% removed, SGD fine-tuned: " + ", ".join(f"{m} {v:.1f}%" for m, v in res.items())]))
    if mis is not None:
        mm = _mis_by_model(mis)
        mm = mm[mm["schedule"] == "oneshot"]
        lines, rs = [], []
        for (s, m, r), g in mm.groupby(["seed", "method", "retrain"]):
            dense = _mis_by_model(mis[(mis["seed"] == s) & (mis["level"] == 0)])
            g = pd.concat([dense.assign(method=m, retrain=r).head(1), g[g["level"] > 0]])
            if len(g) >= 3 and g["mis"].std() > 0:
                rr = float(np.corrcoef(g["sparsity"], g["mis"])[0, 1])
                rs.append(rr)
                lines.append(f"seed {s}, {m}, {r}: r(MIS, rate) = {rr:+.2f} over {len(g)} models")
        if rs:
            neg, pos = sum(r < -0.5 for r in rs), sum(r > 0.5 for r in rs)
            verdict = DISAGREE if neg == len(rs) or pos == len(rs) else CANNOT
            reason = (f"{neg} of {len(rs)} arms have r < -0.5 and {pos} have r > 0.5 within the arm; "
                      + ("every arm moves the same way, which a null relationship would not give"
                         if verdict == DISAGREE else "the arms do not agree in direction")
                      + (f"; a p-value needs ≥ 3 seeds (here {len(seeds)})" if len(seeds) < 3 else ""))
            claims.append(Claim(
                paper, "MIS vs pruning rate (Fig. 5)",
                "There is no significant relationship between interpretability (MIS) and pruning rate (r = 0.092).",
                verdict, reason, unit + "; r is computed within each arm, never over pooled models", lines))
        chance = fv[fv["top1"] < 20.0]
        if len(chance):
            m = _mis_by_model(mis).merge(chance, on=["seed", "method", "schedule", "retrain", "level"])
            if len(m):
                claims.append(Claim(
                    paper, "MIS of networks at chance (Fig. 5)",
                    "Networks with extremely low accuracy could still achieve high MIS scores.",
                    AGREE if (m["mis"] > 0.6).all() else DISAGREE if (m["mis"] <= 0.6).all() else CANNOT,
                    "MIS of every network below 20% top-1 (chance is 10%) against 0.6 (0.5 = chance for MIS)",
                    f"the network, n = {len(m)} (from {len(seeds)} seed(s))",
                    [f"top-1 {m['top1'].min():.1f}–{m['top1'].max():.1f}%, MIS {m['mis'].min():.3f}–{m['mis'].max():.3f}"]))
    return claims


# ---- Blakeney ----------------------------------------------------------------------------------


def bl_claims(root: Path) -> list[Claim]:
    acc, sim, ctrl = (_read(root, "blakeney", t) for t in ("accuracy", "similarity", "similarity_controls"))
    paper = "Blakeney et al. 2020"
    claims = []
    if sim is not None:
        s = sim[(sim["metric"] == "svcca") & (sim["layer_a"] == sim["layer_b"]) & (sim["level"] > 0)]
        seeds = sorted(s["seed"].unique())
        unit = f"the seed (one chain per arm), n = {len(seeds)}"
        mean = s.groupby(["seed", "schedule", "retrain", "level"]).agg(
            sim=("similarity", "mean"), sparsity=("sparsity", "first")).reset_index()
        refs = {}
        if ctrl is not None:
            c = ctrl[(ctrl["metric"] == "svcca") & (ctrl["layer_a"] == ctrl["layer_b"])]
            refs = c.groupby("control")["similarity"].mean().to_dict()
        between, retrained = refs.get("between_seeds", float("nan")), refs.get("dense_retrained", float("nan"))
        ref_line = f"controls (mean over layers): dense fine-tuned without pruning {retrained:.3f}, another seed's dense model {between:.3f}"
        it = mean[(mean["schedule"] == "iterative")].sort_values("sparsity")
        if len(it):
            first, last = it.iloc[0], it.iloc[-1]
            drop = last["sim"] < first["sim"] and last["sim"] < retrained - 0.05
            claims.append(Claim(
                paper, "Pruned networks drift from the dense one (Figs. 2, 4)",
                "Pruning changes the representation: similarity to the dense network falls as sparsity grows, so pruning "
                "is not simply compression.",
                AGREE if drop else DISAGREE,
                "agree when the most pruned iterative network is less similar than the first level and at least 0.05 "
                "below the dense network fine-tuned without pruning (retraining alone)",
                unit, [f"iterative, fine-tuned: SVCCA {first['sim']:.3f} at {100 * first['sparsity']:.3g}% removed, "
                       f"{last['sim']:.3f} at {100 * last['sparsity']:.3g}%", ref_line]))
            lay = s[(s["schedule"] == "iterative") & (s["level"] == s[s["schedule"] == "iterative"]["level"].max())]
            lay = lay.groupby("layer_a")["similarity"].mean()
            order = [l for l in ("conv1", "layer1", "layer2", "layer3", "layer4", "fc") if l in lay.index] or list(lay.index)
            vals = [lay[l] for l in order]
            from scipy.stats import spearmanr

            rho = float(spearmanr(range(len(vals)), vals).statistic) if len(vals) > 2 else float("nan")
            conv = [l for l in order if l != "fc"]
            rho_conv = (float(spearmanr(range(len(conv)), [lay[l] for l in conv]).statistic)
                        if len(conv) > 2 else float("nan"))
            claims.append(Claim(
                paper, "Deeper layers change more (Figs. 2, 4)",
                "Layers closer to the output are less similar to the dense network after pruning.",
                AGREE if rho_conv < -0.5 else DISAGREE if rho_conv > 0.5 else CANNOT,
                f"Spearman ρ(depth, similarity) over the conv stages = {rho_conv:+.2f} (all layers with fc: {rho:+.2f}); "
                "agree below -0.5, disagree above 0.5",
                unit + "; one layer profile per chain",
                ["most pruned iterative network: " + ", ".join(f"{l} {lay[l]:.2f}" for l in order)]))
        one = mean[mean["schedule"] == "oneshot"]
        scratch = one[one["retrain"].isin(["reinit", "random_reinit"])]
        if len(scratch) and not math.isnan(between):
            lo, hi = scratch["sim"].min(), scratch["sim"].max()
            claims.append(Claim(
                paper, "Re-initialised and random sparse networks learn other representations (Fig. 5)",
                "Networks re-initialised after pruning, or randomly initialised sparse, end far from the dense network.",
                AGREE if hi < between + 0.1 else DISAGREE if lo > between + 0.1 else CANNOT,
                "agree when all of them are within 0.1 of (or below) the similarity of two independently trained dense "
                "networks",
                unit, [f"re-init / random sparse init: SVCCA {lo:.3f}–{hi:.3f}", ref_line]))
    if acc is not None:
        fv = final_val(acc)
        one = fv[(fv["schedule"] == "oneshot") & (fv["level"] > 0)]
        piv = one.groupby(["level", "retrain"])["top1"].mean().unstack()
        sp = one.groupby("level")["sparsity"].mean()
        if {"finetune_sgd", "reinit"} <= set(piv.columns):
            lines, ok = [], []
            for lv in piv.index:
                mag = piv.loc[lv, "finetune_sgd"]
                others = {k: piv.loc[lv, k] for k in ("reinit", "random_reinit") if k in piv.columns}
                if sp[lv] < 0.895:
                    ok += [v >= mag - ACC_POINTS for v in others.values()]
                lines.append(f"{100 * sp[lv]:.3g}% removed: magnitude + fine-tuning {mag:.1f}%, "
                             + ", ".join(f"{k} {v:.1f}%" for k, v in others.items()))
            same = _all_same(ok)
            claims.append(Claim(
                paper, "Accuracy of re-initialised and random sparse networks (Table 1)",
                "Re-initialised and randomly initialised sparse networks reach the accuracy of magnitude pruning with "
                "fine-tuning, except at 90% sparsity.",
                _verdict(same),
                f"below 90% removed, every from-scratch network within {ACC_POINTS:g} point of (or above) the fine-tuned "
                "magnitude-pruned one" + ("" if same is not None else ": some are, some are not"),
                f"the seed, n = {fv['seed'].nunique()}", lines))
    return claims


# ---- data tables (markdown) --------------------------------------------------------------------


def _per_seed(values: list[str]) -> str:
    return " / ".join(values)


def fb_table(root: Path) -> str:
    """Per level: % remaining, top-1 and interpretable units (95% bootstrap) and unique concepts per seed."""
    acc, summ = _read(root, "frankle_bau", "accuracy"), _read(root, "frankle_bau", "dissection_summary")
    if acc is None or summ is None:
        return ""
    fv = final_val(acc).set_index(["seed", "level"])
    sm = summ.groupby(["seed", "level"]).agg(u=("interpretable_units", "sum"), lo=("interpretable_units_lo", "sum"),
                                             hi=("interpretable_units_hi", "sum"), c=("unique_concepts", "sum"),
                                             live=("live_units", "sum"), units=("units", "sum"))
    seeds = sorted(fv.index.get_level_values(0).unique())
    out = [f"Seeds {' / '.join(map(str, seeds))} (one pruning chain each):", "",
           "| level | % prunable weights remaining | top-1 val % | interpretable units (95% bootstrap) | unique concepts | live units |",
           "| ---: | ---: | --- | --- | --- | --- |"]
    for level in sorted(fv.index.get_level_values(1).unique()):
        rem = 100 * (1 - fv.xs(level, level=1)["sparsity"].mean())
        row = [f"{fv.loc[(s, level), 'top1']:.1f}" if (s, level) in fv.index else "–" for s in seeds]
        units = [f"{int(sm.loc[(s, level), 'u'])}" if (s, level) in sm.index else "–" for s in seeds]
        ci = [f"{sm.loc[(s, level), 'lo']:g}–{sm.loc[(s, level), 'hi']:g}" if (s, level) in sm.index else "–"
              for s in seeds]
        conc = [f"{int(sm.loc[(s, level), 'c'])}" if (s, level) in sm.index else "–" for s in seeds]
        live = [f"{int(sm.loc[(s, level), 'live'])}" if (s, level) in sm.index else "–" for s in seeds]
        out.append(f"| {level} | {rem:.3g} | {_per_seed(row)} | {_per_seed(units)} ({_per_seed(ci)}) | "
                   f"{_per_seed(conc)} | {_per_seed(live)} of {int(sm['units'].max())} |")
    units = _read(root, "frankle_bau", "dissection_units")
    if units is not None:
        u = units[units["interpretable"].astype(bool)]
        per = u.groupby(["level", "category"]).size().unstack(fill_value=0)
        levels = sorted(units["level"].unique())
        out += ["", f"Interpretable units by category, summed over the {len(seeds)} chains:", "",
                "| category | " + " | ".join(map(str, levels)) + " |", "| --- |" + " ---: |" * len(levels)]
        for cat in per.columns:
            out.append(f"| {cat} | " + " | ".join(str(int(per[cat].get(lv, 0))) for lv in levels) + " |")
    return "\n".join(out) + "\n"


def vrs_table(root: Path) -> str:
    """Final top-1 per arm and rate (mean over seeds), and average MIS where scored."""
    acc, mis = _read(root, "von_rad_seuffert", "accuracy"), _read(root, "von_rad_seuffert", "mis")
    if acc is None:
        return ""
    fv = final_val(acc)
    dense = fv[fv["level"] == 0]["top1"].mean()
    fv = fv[fv["level"] > 0]
    mm = _mis_by_model(mis) if mis is not None else None
    out = [f"Top-1 val % (mean over seeds; the dense model: {dense:.1f}%), and average MIS where scored, per arm and "
           "% of prunable weights removed:", "", "| method | schedule | retrain | % removed: top-1 (MIS) |", "| --- | --- | --- | --- |"]
    for (m, sch, r), g in fv.groupby(["method", "schedule", "retrain"]):
        cells = []
        for lv, h in g.groupby("level"):
            cell = f"{100 * h['sparsity'].mean():.3g}%: {h['top1'].mean():.1f}"
            if mm is not None:
                x = mm[(mm["method"] == m) & (mm["schedule"] == sch) & (mm["retrain"] == r) & (mm["level"] == lv)]
                if len(x):
                    cell += f" ({x['mis'].mean():.3f})"
            cells.append(cell)
        out.append(f"| {m} | {sch} | {r} | {'; '.join(cells)} |")
    return "\n".join(out) + "\n"


def bl_table(root: Path) -> str:
    """Mean SVCCA over layers to the dense model per arm and sparsity, and accuracy."""
    sim, acc = _read(root, "blakeney", "similarity"), _read(root, "blakeney", "accuracy")
    if sim is None or acc is None:
        return ""
    s = sim[(sim["metric"] == "svcca") & (sim["layer_a"] == sim["layer_b"]) & (sim["level"] > 0)]
    mean = s.groupby(["schedule", "retrain", "level"]).agg(sim=("similarity", "mean"), sp=("sparsity", "mean"))
    fv = final_val(acc).groupby(["schedule", "retrain", "level"])["top1"].mean()
    out = ["SVCCA to the dense model (mean over layers and seeds) and top-1 val %, per arm and % of prunable weights "
           "removed:", "", "| schedule | retrain | % removed: SVCCA (top-1) |", "| --- | --- | --- |"]
    for (sch, r), g in mean.groupby(level=[0, 1]):
        cells = [f"{100 * row.sp:.3g}%: {row.sim:.3f} ({fv.get(key, float('nan')):.1f})" for key, row in g.iterrows()]
        out.append(f"| {sch} | {r} | {'; '.join(cells)} |")
    return "\n".join(out) + "\n"


TABLES = {"Frankle & Bau 2019": fb_table, "von Rad & Seuffert 2024": vrs_table, "Blakeney et al. 2020": bl_table}


# ---- rendering ---------------------------------------------------------------------------------


def claims(root: str | Path = "results") -> list[Claim]:
    root = Path(root)
    return fb_claims(root) + vrs_claims(root) + bl_claims(root)


def markdown(items: list[Claim], header: str = "", root: str | Path | None = None) -> str:
    """The claims by paper; with ``root``, each paper's data table first."""
    out = [header] if header else []
    paper = None
    for c in items:
        if c.paper != paper:
            paper = c.paper
            out += ([""] if out else []) + [f"#### {paper}", ""]
            table = TABLES[paper](Path(root)) if root is not None and paper in TABLES else ""
            if table:
                out += [table]
        out.append(f"* **{c.name}: {c.verdict}.** Paper: “{c.statement}” This run ({c.unit}):")
        out += [f"  * {line}" for line in c.numbers]
        out.append(f"  * Rule: {c.reason}.")
    return "\n".join(out).rstrip() + "\n"


_COLOURS = {AGREE: "#1b7837", DISAGREE: "#b2182b", CANNOT: "#7f7f7f"}


def html_page(items: list[Claim], title: str = "pruneinterp: verdicts") -> str:
    rows = []
    for c in items:
        numbers = "<br>".join(html.escape(n) for n in c.numbers)
        rows.append(
            f"<tr><td>{html.escape(c.paper)}</td><td><b>{html.escape(c.name)}</b><br><i>{html.escape(c.statement)}</i></td>"
            f"<td>{numbers}<br><small>unit of replication: {html.escape(c.unit)}</small></td>"
            f"<td style='color:{_COLOURS[c.verdict]}'><b>{html.escape(c.verdict)}</b></td>"
            f"<td>{html.escape(c.reason)}</td></tr>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:6px;vertical-align:top;font-size:14px}"
            "</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Each claim: the paper's statement, this run's numbers (computed from "
            "the study tables), and a verdict by the rule in the last column.</p>"
            "<table><tr><th>paper</th><th>claim</th><th>this run</th><th>verdict</th><th>rule</th></tr>"
            + "".join(rows) + "</table></body></html>\n")


def write(root: str | Path, md_out: str | Path, html_out: str | Path) -> list[Claim]:
    from .io import atomic_paths

    items = claims(root)
    with atomic_paths(md_out, html_out) as (md_tmp, html_tmp):
        Path(md_tmp).write_text(markdown(items, root=root))
        Path(html_tmp).write_text(html_page(items))
    return items


def update_readme(readme: str | Path, md: str) -> None:
    """Replace the text between the verdict markers of ``readme`` with ``md``."""
    readme = Path(readme)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: no {BEGIN} ... {END} markers")
    new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: f"{BEGIN}\n{md.rstrip()}\n{END}", text,
                 count=1, flags=re.S)
    readme.write_text(new)


