"""The verdict page computes each claim's numbers from the tables and applies its printed rule."""

import pandas as pd
import pytest

from pruneinterp import verdicts

RUN = dict(study="frankle_bau", model="m", method="magnitude_global", schedule="iterative", retrain="rewind")
LEVELS = [0, 1, 2, 3]
SPARSITY = {0: 0.0, 1: 0.5, 2: 0.9, 3: 0.97}


def _write(root, study, name, rows):
    path = root / study / "tables" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _fb(root, top1, units, lo=None):
    """top1[seed][level] in %, units[seed][level] interpretable units (all objects)."""
    acc, summ, per_unit = [], [], []
    for seed in top1:
        for level in LEVELS:
            ident = dict(RUN, seed=seed, level=level, sparsity=SPARSITY[level])
            acc.append(dict(ident, epoch=3, split="val", top1=top1[seed][level] / 100, loss=0.0))
            acc.append(dict(ident, epoch=2, split="val", top1=0.0, loss=0.0))  # not the last epoch: ignored
            n = units[seed][level]
            summ.append(dict(ident, layer="layer4", units=10, live_units=10, interpretable_units=n, unique_concepts=n,
                             concepts_color=0, concepts_object=n, concepts_part=0, concepts_texture=0, concepts_scene=0,
                             interpretable_units_lo=(lo if lo is not None else n - 2), interpretable_units_hi=n + 2,
                             unique_concepts_lo=0, unique_concepts_hi=n))
            for u in range(10):
                per_unit.append(dict(ident, layer="layer4", unit=u, label=f"c{u}", category="object", iou=0.1,
                                     threshold=1.0, interpretable=u < n))
    _write(root, "frankle_bau", "accuracy", acc)
    _write(root, "frankle_bau", "dissection_summary", summ)
    _write(root, "frankle_bau", "dissection_units", per_unit)
    _write(root, "frankle_bau", "dissection_baseline",
           [dict(study="frankle_bau", model="m", seed=s, network="random_init", layer="layer4", interpretable_units=0)
            for s in top1])


def _by_name(items):
    return {c.name.split(" (")[0]: c for c in items}


def test_interpretability_falling_while_accuracy_holds_disagrees_with_hypothesis_a(tmp_path):
    _fb(tmp_path, top1={0: [85, 90, 91, 89], 1: [86, 90, 90, 88], 2: [84, 91, 90, 87]},
        units={0: [8, 8, 3, 1], 1: [9, 9, 4, 2], 2: [7, 7, 2, 0]})
    c = _by_name(verdicts.claims(tmp_path))
    assert c["Accuracy under pruning"].verdict == verdicts.AGREE
    hyp = c["Interpretability follows accuracy"]
    assert hyp.verdict == verdicts.DISAGREE and "n = 3 (0, 1, 2)" in hyp.unit
    assert hyp.numbers[0].startswith("seed 0: dense 8 interpretable units (bootstrap lower bound 6)")
    assert "first below it at 10% remaining (3 units, accuracy 91.0%)" in hyp.numbers[0]
    assert c["Untrained networks"].verdict == verdicts.AGREE
    assert c["Consistency of units"].verdict == verdicts.DISAGREE  # 3/8, 4/9, 2/7 at 10% remaining


def test_units_that_fall_only_with_accuracy_agree_and_split_chains_cannot_tell(tmp_path):
    _fb(tmp_path, top1={0: [85, 86, 80, 70], 1: [86, 86, 79, 60]}, units={0: [8, 8, 3, 1], 1: [9, 9, 4, 2]})
    c = _by_name(verdicts.claims(tmp_path))
    assert c["Interpretability follows accuracy"].verdict == verdicts.AGREE
    assert c["Accuracy under pruning"].verdict == verdicts.AGREE  # the falls are below 16.8% remaining
    _fb(tmp_path, top1={0: [85, 82, 80, 70], 1: [86, 83, 79, 60]}, units={0: [8, 8, 3, 1], 1: [9, 9, 4, 2]})
    assert _by_name(verdicts.claims(tmp_path))["Accuracy under pruning"].verdict == verdicts.DISAGREE
    _fb(tmp_path, top1={0: [85, 86, 86, 86], 1: [86, 86, 79, 60]}, units={0: [8, 8, 3, 1], 1: [9, 9, 4, 2]})
    assert _by_name(verdicts.claims(tmp_path))["Interpretability follows accuracy"].verdict == verdicts.CANNOT


def _bl(root, layer_sims, scratch, between):
    sims, ctrl = [], []
    for level, sp in ((1, 0.2), (2, 0.9)):
        for layer, value in layer_sims.items():
            sims.append(dict(study="blakeney", model="m", seed=0, method="magnitude_layerwise", schedule="iterative",
                             retrain="finetune_sgd", level=level, sparsity=sp, layer_a=layer, layer_b=layer,
                             metric="svcca", similarity=value if level == 2 else 0.97))
            sims.append(dict(study="blakeney", model="m", seed=0, method="magnitude_layerwise", schedule="oneshot",
                             retrain="reinit", level=level, sparsity=sp, layer_a=layer, layer_b=layer, metric="svcca",
                             similarity=scratch))
    for layer in layer_sims:
        ctrl.append(dict(study="blakeney", model="m", seed=0, control="between_seeds", other_seed=1, retrain="none",
                         layer_a=layer, layer_b=layer, metric="svcca", similarity=between))
        ctrl.append(dict(study="blakeney", model="m", seed=0, control="dense_retrained", other_seed=0,
                         retrain="finetune_sgd", layer_a=layer, layer_b=layer, metric="svcca", similarity=0.98))
    _write(root, "blakeney", "similarity", sims)
    _write(root, "blakeney", "similarity_controls", ctrl)


def test_blakeney_claims_follow_the_layer_profile_and_the_controls(tmp_path):
    _bl(tmp_path, {"layer1": 0.9, "layer2": 0.8, "layer3": 0.6, "layer4": 0.4, "fc": 0.85}, scratch=0.45, between=0.4)
    c = _by_name(verdicts.claims(tmp_path))
    assert c["Deeper layers change more"].verdict == verdicts.AGREE
    assert "= -1.00" in c["Deeper layers change more"].reason
    assert c["Pruned networks drift from the dense one"].verdict == verdicts.AGREE
    assert c["Re-initialised and random sparse networks learn other representations"].verdict == verdicts.AGREE
    _bl(tmp_path, {"layer1": 0.4, "layer2": 0.6, "layer3": 0.8, "layer4": 0.9, "fc": 0.85}, scratch=0.9, between=0.4)
    c = _by_name(verdicts.claims(tmp_path))
    assert c["Deeper layers change more"].verdict == verdicts.DISAGREE
    assert c["Re-initialised and random sparse networks learn other representations"].verdict == verdicts.DISAGREE


def test_pages_and_readme_carry_the_same_claims(tmp_path):
    _fb(tmp_path, top1={0: [85, 90, 91, 89]}, units={0: [8, 8, 3, 1]})
    items = verdicts.write(tmp_path, tmp_path / "summary.md", tmp_path / "summary.html")
    md, page = (tmp_path / "summary.md").read_text(), (tmp_path / "summary.html").read_text()
    for c in items:
        assert f"**{c.name}: {c.verdict}.**" in md and c.numbers[0] in md
    assert "| 2 | 10 | 91.0 | 3 (1–5) | 3 | 10 of 10 |" in md  # the per-level table, from the tables
    assert page.count("<tr>") == len(items) + 1
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{verdicts.BEGIN}\nold text\n{verdicts.END}\nafter\n")
    verdicts.update_readme(readme, md)
    text = readme.read_text()
    assert "old text" not in text and md.strip() in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        verdicts.update_readme(tmp_path / "plain.md", md)
