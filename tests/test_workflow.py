"""The whole DAG on config/test.yaml in a temporary copy of the workflow, and its caching."""

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pruneinterp.workflow import planned_rules
from workflow_fixture import REPO, SNAKEMAKE, copy_workflow, imagenet_broden_paths, paper_dry_run



def _smk(wd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "--configfile", "config/test.yaml", *args], cwd=wd,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("wf"))
    _smk(wd)
    return wd


def test_whole_dag_produces_figures_and_tidy_tables(workflow_run):
    wd = workflow_run
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    study = cfg["studies"]["frankle_bau"]
    levels = study["arms"][0]["levels"]
    for fig in ("fb_fig1", "fb_fig2", "fb_fig3", "fb_fig4", "vrs_fig1", "vrs_fig2", "vrs_fig3", "vrs_fig4",
                "bl_table1", "bl_table3", "bl_fig2", "bl_fig3", "bl_fig4", "bl_fig5", "bl_metrics",
                "vrs_fig5", "vrs_fig6", "mis_vs_dissection"):
        assert (wd / f"results/figures/{fig}.png").stat().st_size > 1000, fig
    acc = pd.read_csv(wd / "results/frankle_bau/tables/accuracy.csv")
    assert list(acc.columns) == ["study", "model", "seed", "method", "schedule", "retrain", "level", "sparsity",
                                 "epoch", "split", "top1", "loss"]
    assert set(acc["level"]) == set(range(levels + 1))
    assert set(acc["seed"]) == set(study["seeds"])
    assert (acc["study"] == "frankle_bau").all()
    sp = acc.drop_duplicates(["seed", "level"]).groupby("level")["sparsity"].first()
    assert sp[0] == 0.0 and sp[1] == pytest.approx(0.2, abs=1e-3) and sp[2] == pytest.approx(0.36, abs=1e-3)
    units = pd.read_csv(wd / "results/frankle_bau/tables/dissection_units.csv")
    assert {"layer", "unit", "label", "category", "iou", "threshold", "interpretable"} <= set(units.columns)
    assert len(units) == len(study["seeds"]) * (levels + 1) * cfg["models"]["resnet-w4"]["kwargs"]["widths"][3]
    per_run = pd.read_csv(wd / "results/dense/resnet-w4/seed0/dissection.csv")
    assert list(per_run.columns) == ["layer", "unit", "label", "category", "iou", "threshold", "interpretable"]
    assert (wd / "logs/dense/resnet-w4/seed0.log").read_text().startswith("rule train_dense")
    # full IoU matrices, bootstrap intervals, the random-init baseline and the planted-unit validation
    from pruneinterp.dissection import read_iou_file

    iou = read_iou_file(wd / "results/dense/resnet-w4/seed0/dissection_iou.h5")
    assert iou["layer4"].shape[0] == cfg["models"]["resnet-w4"]["kwargs"]["widths"][3]
    assert iou["layer4"].max(1) == pytest.approx(per_run[per_run["layer"] == "layer4"]["iou"].to_numpy(), abs=1e-6)
    summary = pd.read_csv(wd / "results/frankle_bau/tables/dissection_summary.csv")
    assert {"interpretable_units_lo", "interpretable_units_hi"} <= set(summary.columns)
    assert (summary["interpretable_units_lo"] <= summary["interpretable_units_hi"]).all()
    base = pd.read_csv(wd / "results/frankle_bau/tables/dissection_baseline.csv")
    assert sorted(base["seed"]) == sorted(study["seeds"]) and set(base["network"]) == {"random_init"}
    # similarity: every Blakeney run and layer, three measures; the dense model is identical to itself
    sim = pd.read_csv(wd / "results/blakeney/tables/similarity.csv")
    assert set(sim["metric"]) == {"svcca", "pwcca", "cka"}
    assert set(sim["layer_a"]) == {"layer1", "layer2", "layer3", "layer4", "fc"}
    assert np.allclose(sim[sim["level"] == 0]["similarity"], 1.0)
    assert (sim[sim["level"] > 0]["similarity"] < 1.0 - 1e-6).any()
    # the controls: seed 0's dense model vs frankle_bau's seed 1 (no extra training) and vs itself
    # fine-tuned without pruning; the same layers and measures as the runs
    ctl = pd.read_csv(wd / "results/blakeney/tables/similarity_controls.csv")
    assert list(ctl.columns[:6]) == ["study", "model", "seed", "control", "other_seed", "retrain"]
    assert set(map(tuple, ctl[["control", "other_seed", "retrain"]].drop_duplicates().values.tolist())) == {
        ("between_seeds", 1, "none"), ("dense_retrained", 0, "finetune_sgd")}
    assert len(ctl) == 2 * 5 * 3 and set(ctl["metric"]) == {"svcca", "pwcca", "cka"}
    assert ctl["similarity"].between(0, 1 + 1e-9).all() and (ctl["similarity"] < 1 - 1e-6).any()
    assert (ctl["n_samples"] == sim["n_samples"].iloc[0]).any()
    ft = pd.read_csv(wd / "results/dense/resnet-w4/seed0/finetune_sgd/metrics.csv")
    assert ft["retrain"].eq("finetune_sgd").all() and ft["sparsity"].eq(0).all()
    assert ft["epoch"].max() == cfg["finetune"]["epochs"]
    # effective sparsity: never below the masked fraction; structured pruning kills more than it masks
    sp = pd.read_csv(wd / "results/von_rad_seuffert/tables/sparsity.csv")
    prunable = sp[sp["scope"] == "prunable"]
    assert (prunable["effective_sparsity"] >= prunable["fraction_removed"] - 1e-12).all()
    structured = prunable[(prunable["method"] == "structured_l1") & (prunable["level"] > 0)]
    assert (structured["effective_sparsity"] > structured["fraction_removed"]).all()
    assert sp[sp["scope"] == "all"]["effective_sparsity"].isna().all()
    ep = pd.read_csv(wd / "results/blakeney/tables/similarity_epochs.csv")
    assert sorted(ep["epoch"].unique()) == list(range(cfg["finetune"]["epochs"] + 1))
    assert np.allclose(ep[ep["epoch"] == 0]["similarity"], 1.0)
    # MIS of every unit of every von Rad & Seuffert run; per-class accuracy of the class units
    mis = pd.read_csv(wd / "results/von_rad_seuffert/tables/mis.csv")
    assert {"layer", "unit", "mis", "n_tasks", "mis_accuracy", "mis_confidence", "method", "retrain", "level",
            "sparsity"} <= set(mis.columns)
    scored = mis[mis["n_tasks"] > 0]
    assert len(scored) and scored["mis"].between(0, 1).all() and mis[mis["n_tasks"] == 0]["mis"].isna().all()
    assert (scored["mis"] == scored["mis_confidence"]).all() and scored["mis_accuracy"].between(0, 1).all()
    assert (mis["backend"] == "concepts").all()
    classes = pd.read_csv(wd / "results/von_rad_seuffert/tables/class_accuracy.csv")
    assert set(classes["class"]) == set(range(10))
    gt = pd.read_csv(wd / "results/validation/ground_truth.csv")
    assert list(gt.columns) == ["unit", "planted", "label", "iou", "iou_bound", "interpretable", "recovered"]
    assert not gt[gt["planted"] == "noise"]["interpretable"].any()


def _final(acc):
    val = acc[acc["split"] == "val"]
    keys = ["method", "schedule", "retrain", "seed", "level"]
    return val[val["epoch"] == val.groupby(keys)["epoch"].transform("max")].set_index(keys)


def test_every_arm_and_strategy_is_in_the_tidy_accuracy_table(workflow_run):
    wd = workflow_run
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    for name in ("von_rad_seuffert", "blakeney"):
        acc = pd.read_csv(wd / f"results/{name}/tables/accuracy.csv")
        final = _final(acc)
        for arm in cfg["studies"][name]["arms"]:
            levels = len(arm["targets"]) if arm["schedule"] == "oneshot" else arm["levels"]
            for retrain in arm["retrain"]:
                sub = final.loc[(arm["method"], arm["schedule"], retrain)]
                assert sorted(sub.index.get_level_values("level")) == list(range(levels + 1)), (name, arm, retrain)
                if arm["schedule"] == "oneshot" and arm["method"].startswith("magnitude"):  # exact targets
                    got = sub["sparsity"].to_numpy()[1:]
                    assert got == pytest.approx(arm["targets"], abs=0.01), (name, arm)
        # level 0 of every arm is the same dense model
        assert final.xs(0, level="level")["top1"].nunique() == 1
    vrs = _final(pd.read_csv(wd / "results/von_rad_seuffert/tables/accuracy.csv"))
    # one mask per one-shot target, shared by the strategies: identical sparsity for none and fine-tuning
    for method in ("magnitude_global", "structured_l1", "connection_l1"):
        a = vrs.loc[(method, "oneshot", "none"), "sparsity"]
        b = vrs.loc[(method, "oneshot", "finetune_sgd"), "sparsity"]
        assert a.to_numpy() == pytest.approx(b.to_numpy())
    # the drawn tables come from the tidy table, not from typed-in numbers
    bl = pd.read_csv(wd / "results/blakeney/tables/accuracy.csv")
    t1 = pd.read_csv(wd / "results/figures/bl_table1.csv")
    ft = _final(bl).loc[("magnitude_layerwise", "oneshot", "reinit", 0, 1), "top1"]
    row = t1[(t1["retrain"] == "reinit") & (t1["level"] == 1)]
    assert row["top1_mean"].item() == pytest.approx(100 * ft, abs=1e-3)
    sp = pd.read_csv(wd / "results/blakeney/tables/sparsity.csv")
    assert set(sp["scope"]) == {"layer", "prunable", "all"}
    assert "fc.weight" not in set(sp["name"])  # blakeney keeps the classifier dense
    one = sp[(sp["retrain"] == "reinit") & (sp["level"] == 2)].set_index("scope")
    assert one.loc["prunable", "fraction_removed"] == pytest.approx(0.6, abs=0.01)
    assert one.loc["all", "fraction_removed"] < one.loc["prunable", "fraction_removed"]


def test_noop_rerun_schedules_nothing(workflow_run):
    out = _smk(workflow_run, "-n").stdout
    assert planned_rules(out) == {}, out[-2000:]


def test_preloaded_jobs_write_the_same_bytes_as_jobs_in_their_own_process(workflow_run, tmp_path):
    """The whole test DAG ran with the preload server (the default): most of its jobs ran there, and a
    chain of it (data, dense training, extraction, dissection, MIS) run again with every job in its own
    process writes byte-identical files."""
    logs = [p.read_text() for p in (workflow_run / "logs").rglob("*.log")]
    preloaded = sum("preloaded)" in text for text in logs)
    assert preloaded >= 0.9 * len(logs), f"{preloaded} of {len(logs)} jobs ran preloaded"
    wd = copy_workflow(tmp_path / "wf")
    dense = "results/dense/resnet-w4/seed0"
    targets = [f"{dense}/{name}" for name in ("checkpoint.pt", "activations.h5", "dissection.csv",
                                              "dissection_iou.h5", "mis.csv")]
    # targets first: --configfile takes every word after it
    proc = subprocess.run(SNAKEMAKE + [*targets, "--cores", "2", "--configfile", "config/test.yaml"], cwd=wd,
                          capture_output=True, text=True, env={**os.environ, "PRUNEINTERP_PRELOAD": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "preloaded)" not in (wd / "logs/dense/resnet-w4/seed0.log").read_text()
    for target in targets + ["results/data/shapes/train.npz", "results/data/shapes/probe/index.csv"]:
        assert (wd / target).read_bytes() == (workflow_run / target).read_bytes(), target


def test_extract_keep_false_deletes_activations_once_their_readers_ran(tmp_path):
    """extract.keep: false makes activations.h5 a temp() output: gone after dissection and MIS read it."""
    wd = copy_workflow(tmp_path / "wf")
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    cfg["extract"]["keep"] = False
    (wd / "config/nokeep.yaml").write_text(yaml.safe_dump(cfg))
    dense = "results/dense/resnet-w4/seed0"
    targets = [f"{dense}/dissection.csv", f"{dense}/mis.csv"]
    proc = subprocess.run(SNAKEMAKE + [*targets, "--cores", "2", "--configfile", "config/nokeep.yaml"], cwd=wd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (wd / f"{dense}/dissection.csv").is_file() and (wd / f"{dense}/mis.csv").is_file()
    assert not (wd / f"{dense}/activations.h5").exists()
    assert f"Removing temporary output {dense}/activations.h5" in proc.stderr


def test_figure_only_parameter_reruns_only_that_figure(workflow_run, tmp_path):
    cfg = yaml.safe_load((workflow_run / "config/test.yaml").read_text())
    cfg["figures"]["fb_fig2"]["title"] = "A different title"
    (workflow_run / "config/changed.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", "config/changed.yaml"],
                          cwd=workflow_run, capture_output=True, text=True, check=True)
    planned = planned_rules(proc.stdout)
    assert planned.pop("all", None) in (None, 1)
    assert planned.pop("provenance", None) in (None, 1)  # the run's provenance is remade with any figure
    assert planned == {"fb_fig2": 1}, proc.stdout[-2000:]


def test_a_similarity_setting_reruns_the_comparisons_not_the_extractions(workflow_run):
    """Extractions keep the (image, position) samples the comparison uses: a new SVCCA variance
    fraction or set of measures reruns the comparisons and what reads them, and extracts nothing."""
    cfg = yaml.safe_load((workflow_run / "config/test.yaml").read_text())
    cfg.setdefault("similarity", {}).update(keep=0.95, methods=["svcca", "cka"])
    (workflow_run / "config/changed_sim.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", "config/changed_sim.yaml"],
                          cwd=workflow_run, capture_output=True, text=True, check=True)
    planned = planned_rules(proc.stdout)
    samples = list((workflow_run / "results").rglob("similarity_samples.h5"))
    compared = [p for p in (workflow_run / "results").rglob("similarity.csv") if p.parent.name != "tables"]
    assert planned.get("similarity") == len(compared) > 0  # every comparison of a run with its reference
    assert set(planned) <= {"similarity", "similarity_between_seeds", "epoch_similarity_tables",
                            "study_similarity_controls", "study_similarity_tables", "bl_fig2", "bl_fig3", "bl_fig4",
                            "bl_fig5", "bl_metrics", "summary", "provenance", "all"}, planned
    cfg["similarity"]["max_samples"] = 1000  # other samples: those are extracted again
    (workflow_run / "config/changed_sim.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", "config/changed_sim.yaml"],
                          cwd=workflow_run, capture_output=True, text=True, check=True)
    assert planned_rules(proc.stdout).get("extract_similarity") == len(samples)


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (lambda c: c["train"].__setitem__("precision", "fp8"), "precision", "fp32, bf16, fp16, auto"),
        (lambda c: c["train"].update(augment="cifar", shift=4), "train.augment = 'cifar'", "shift 0, flip false"),
        (lambda c: c["studies"]["frankle_bau"].__setitem__("model", "nope"), "studies.frankle_bau.model",
         "resnet-w4"),
        (lambda c: c["dissect"].__setitem__("layers", ["conv9"]), "dissect.layers", "layer3"),
        (lambda c: c["studies"]["blakeney"]["arms"][0].pop("targets"), "studies.blakeney.arms[0].targets",
         "increasing fractions"),
        (lambda c: c["studies"]["von_rad_seuffert"]["arms"].pop(0), "figures.vrs_fig1",
         "method magnitude_global, schedule oneshot and retrain none"),
        (lambda c: c["studies"]["blakeney"]["arms"][0].__setitem__("retrain", ["retune"]), "retune",
         "finetune_sgd"),
    ],
)
def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path, edit, key, allowed):
    wd = copy_workflow(tmp_path)
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    edit(cfg)
    (wd / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    proc = _smk(wd, check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert key in message and allowed in message, message[-2000:]
    assert not (wd / "results").exists()


@pytest.mark.parametrize("edit, line", [
    (lambda c: c.__setitem__("trian", {"epochs": 2}), "trian: unknown key; allowed top-level keys: data, device"),
    (lambda c: c["studies"]["frankle_bau"].__setitem__("seeds", [0, "one"]),
     "studies.frankle_bau.seeds[1] = 'one'; must be integer"),
    (lambda c: c["dissect"].__setitem__("upsample", "nearest"),
     "dissect.upsample = 'nearest'; allowed: bilinear, fieldmap"),
])
def test_a_schema_violation_is_one_short_message_naming_the_key_path(tmp_path, edit, line):
    """Snakemake's own validate prints the whole schema and config (900 lines for one typo); the
    workflow reports the key path, the value and what is allowed, in at most 5 lines, before any job."""
    wd = copy_workflow(tmp_path)
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    edit(cfg)
    (wd / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    proc = _smk(wd, check=False)
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0 and any(line in text for text in output), output
    assert len(output) <= 5, output
    assert not (wd / "results").exists()


def test_new_finetuning_lr_reruns_only_the_finetuned_runs(workflow_run):
    cfg = yaml.safe_load((workflow_run / "config/test.yaml").read_text())
    cfg.setdefault("finetune", {}).setdefault("sgd", {})["lr"] = 0.02
    (workflow_run / "config/changed_ft.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", "config/changed_ft.yaml"],
                          cwd=workflow_run, capture_output=True, text=True, check=True)
    planned = planned_rules(proc.stdout)
    expected_retrain, expected_chain = 0, 0
    for study in cfg["studies"].values():
        for arm in study["arms"]:
            if "finetune_sgd" in arm["retrain"]:
                if arm["schedule"] == "oneshot":  # the shared one-shot masks stay
                    expected_retrain += len(arm["targets"]) * len(study["seeds"])
                else:  # an iterative level prunes the re-fine-tuned level k-1 and retrains, in one job
                    expected_chain += arm["levels"] * len(study["seeds"])
    assert planned.get("retrain") == expected_retrain, proc.stdout[-3000:]  # not finetune_adam, reinit, none
    assert planned.get("prune_retrain", 0) == expected_chain
    assert not {"train_dense", "prune_oneshot", "generate_data", "fb_fig1"} & set(planned)
    # only the re-fine-tuned runs are extracted again (for the studies that measure MIS or dissect)
    expected_extract = sum(
        (len(arm["targets"]) if arm["schedule"] == "oneshot" else arm["levels"]) * len(study["seeds"])
        for study in cfg["studies"].values() if study.get("mis") or study.get("dissect")
        for arm in study["arms"] if "finetune_sgd" in arm["retrain"])
    assert planned.get("extract_activations", 0) == expected_extract


def _paper_dry_run(tmp_path: Path, config: str, paths: dict) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """Dry run of ``config/paper/<config>`` in a copy of the workflow, with its data paths replaced
    by ``paths`` (fixtures in the real on-disk formats)."""
    proc = paper_dry_run(tmp_path, f"config/paper/{config}", paths)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, planned_rules(proc.stdout)


def test_paper_config_dry_run_builds_the_full_dag_on_disk_data(tmp_path):
    """config/paper/frankle-bau.yaml with ImageNet and Broden replaced by small fixtures in the same
    layouts: the dry run plans every job of the paper-scale study."""
    proc, planned = _imagenet_paper_dry_run(tmp_path, "frankle-bau.yaml")
    paper = yaml.safe_load((REPO / "config/paper/frankle-bau.yaml").read_text())["studies"]["frankle_bau"]
    seeds, levels = len(paper["seeds"]), paper["arms"][0]["levels"]
    assert planned["index_data"] == 1 and "generate_data" not in planned
    assert planned["train_dense"] == seeds
    assert planned["prune_retrain"] == seeds * levels and "retrain" not in planned
    # every level incl. the dense model, plus each seed's random initialisation
    assert planned["extract_activations"] == planned["dissect"] == seeds * (levels + 1) + seeds
    for rule in ("fb_fig1", "fb_fig2", "fb_fig3", "fb_fig4", "study_dissection_baseline"):
        assert planned[rule] == 1, rule
    assert not {"vrs_fig1", "bl_table1", "ground_truth"} & set(planned)
    assert "resnet50" in proc.stdout and "results/data/imagenet/train.csv" in proc.stdout


def _imagenet_paper_dry_run(tmp_path, config):
    """Dry-run an ImageNet + Broden paper config on fixtures in those on-disk layouts."""
    return _paper_dry_run(tmp_path, config, imagenet_broden_paths(tmp_path))


def test_von_rad_seuffert_paper_config_plans_every_arm_on_disk_data(tmp_path):
    """config/paper/von-rad-seuffert.yaml (GoogLeNet, ImageNet, 50 fine-tuning epochs) on fixtures in
    the on-disk formats: the dry run plans every arm's runs, MIS and all of the paper's figures."""
    proc, planned = _imagenet_paper_dry_run(tmp_path, "von-rad-seuffert.yaml")
    study = yaml.safe_load((REPO / "config/paper/von-rad-seuffert.yaml").read_text())["studies"]["von_rad_seuffert"]
    oneshot = [a for a in study["arms"] if a["schedule"] == "oneshot"]
    trained = sum(len(a["targets"]) * len([r for r in a["retrain"] if r != "none"]) for a in oneshot)
    assert planned["prune_oneshot"] == sum(len(a["targets"]) for a in oneshot)
    assert planned["retrain"] == sum(len(a["targets"]) * len(a["retrain"]) for a in oneshot) and trained > 0
    assert planned["prune_retrain"] == 10 and planned["train_dense"] == 1
    for fig in ("vrs_fig1", "vrs_fig2", "vrs_fig3", "vrs_fig4", "vrs_fig5", "vrs_fig6"):
        assert planned[fig] == 1, fig
    assert "googlenet" in proc.stdout and not {"fb_fig1", "bl_table1"} & set(planned)


def test_blakeney_paper_config_plans_every_arm_on_cifar_files(tmp_path):
    """config/paper/blakeney.yaml (ResNet-34 on CIFAR-10 in torchvision's files) on fixtures: the dry run
    converts CIFAR and plans Table 1's three strategies, Table 3's iterative chain and the SVCCA figures."""
    from broden_fixture import write_broden_fixture
    from test_cifar import write_cifar

    write_cifar(tmp_path / "cifar")
    write_broden_fixture(tmp_path / "broden")
    proc, planned = _paper_dry_run(tmp_path, "blakeney.yaml", {"cifar_dir": str(tmp_path / "cifar"),
                                                               "probe_dir": str(tmp_path / "broden")})
    assert planned["convert_cifar"] == 1 and "generate_data" not in planned and "index_data" not in planned
    assert planned["retrain"] == 5 * 3 and planned["prune_retrain"] == 11 and planned["prune_oneshot"] == 5
    for fig in ("bl_table1", "bl_table3", "bl_fig2", "bl_fig3", "bl_fig4", "bl_fig5", "bl_metrics"):
        assert planned[fig] == 1, fig
    assert "resnet34" in proc.stdout and "results/data/cifar10/train.npz" in proc.stdout


def _browser():
    """Headless Debian Chromium through Selenium and Debian's chromedriver (`make test` installs both
    when missing)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert Path(path).exists(), f"{path} missing: `make browser` (part of `make test`) installs chromium"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def test_report_shows_every_figure_and_table_in_a_real_browser(workflow_run):
    """`snakemake --report` of the test run, opened in headless Chromium: every figure of the run is an
    entry whose image, shown as a person would show it (its category, then the eye button), decodes;
    every table entry holds the table's bytes; every caption states its n; the console has no error."""
    import base64
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wd = workflow_run
    _smk(wd, "--report", "report.html")
    galleries = sorted(str(p.relative_to(wd)) for p in (wd / "results/gallery").rglob("index.html"))
    assert len(galleries) == 2  # one per seed of the frankle_bau chain
    expected = sorted([str(p.relative_to(wd)) for p in (wd / "results/figures").iterdir()
                       if p.suffix in (".png", ".csv")] + ["results/summary.html"] + galleries)
    url = (wd / "report.html").as_uri()
    driver = _browser()
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.categories !== undefined"))
        results = driver.execute_script("return window.results")
        categories = driver.execute_script("return window.categories")
        assert sorted(results) == expected
        for path, entry in results.items():
            assert re.search(r"n = \d|seed\(s\)", entry["caption"]) and "{{" not in entry["caption"], path  # n
            payload = entry["data_uri"].split("base64,", 1)[1]
            assert base64.b64decode(payload) == (wd / path).read_bytes(), path
        assert "n = 2 seed(s) (0, 1)" in results["results/figures/fb_fig4.png"]["caption"]
        shown = {}
        for category, groups in categories.items():
            for files in groups.values():
                for path in files:
                    if not path.endswith(".png"):
                        continue
                    driver.get(url)
                    menu = f"//span[normalize-space(text())={json.dumps(category)}]"
                    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.XPATH, menu))
                    driver.find_element(By.XPATH, menu).click()
                    row = WebDriverWait(driver, 30).until(
                        lambda d: d.find_element(By.XPATH, f"//td[normalize-space(text())='{path}']/.."))
                    row.find_element(By.CSS_SELECTOR, "a[iconname=eye]").click()
                    name = path.rsplit("/", 1)[1]
                    shown[path] = WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                        "const img = Array.from(document.images).find(i => i.src.includes('filename=' + arguments[0] + ';'));"
                        "return img && img.complete ? img.naturalWidth : null;", name))
        assert sorted(shown) == [p for p in expected if p.endswith(".png")]
        assert all(width > 0 for width in shown.values()), shown
        for path in galleries:  # a gallery page on its own: every unit strip and MIS panel decodes
            driver.get((wd / path).as_uri())
            counts = WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "const imgs = Array.from(document.images);"
                "return imgs.every(i => i.complete) ? [imgs.length, imgs.filter(i => i.naturalWidth > 0).length] : null;"))
            units = len(list((wd / path).parent.joinpath("png").glob("level*_unit*.png")))
            assert counts[0] == counts[1] and counts[0] >= units > 0, (path, counts, units)
        driver.save_screenshot(str(wd / "gallery_screenshot.png"))
        driver.save_screenshot(str(wd / "report_screenshot.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        driver.quit()
    assert (wd / "report_screenshot.png").stat().st_size > 10_000


def test_planned_rules_reads_the_job_stats_table_of_a_dry_run():
    out = ("Building DAG of jobs...\nJob stats:\njob            count\n-----------  -------\n"
           "train_dense        3\nall                1\ntotal              4\n\nReasons:\n  ...")
    assert planned_rules(out) == {"train_dense": 3, "all": 1}
    assert planned_rules("Building DAG of jobs...\nNothing to be done (all requested files are present).") == {}
