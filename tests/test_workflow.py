"""The whole DAG on config/test.yaml in a temporary copy of the workflow, and its caching."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _copy_workflow(dest: Path) -> Path:
    for item in ("Snakefile", "workflow", "config", "envs", "requirements.lock"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    return dest


def _smk(wd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "--configfile", "config/test.yaml", *args], cwd=wd,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _planned_rules(output: str) -> dict[str, int]:
    """Rule -> job count from a dry run's "Job stats" table."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    wd = _copy_workflow(tmp_path_factory.mktemp("wf"))
    _smk(wd)
    return wd


def test_whole_dag_produces_figures_and_tidy_tables(workflow_run):
    wd = workflow_run
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    study = cfg["studies"]["frankle_bau"]
    for fig in ("fb_fig1", "fb_fig2", "fb_fig3", "fb_fig4"):
        assert (wd / f"results/figures/{fig}.png").stat().st_size > 1000
    acc = pd.read_csv(wd / "results/frankle_bau/tables/accuracy.csv")
    assert list(acc.columns) == ["study", "model", "seed", "method", "schedule", "retrain", "level", "sparsity",
                                 "epoch", "split", "top1", "loss"]
    assert set(acc["level"]) == set(range(study["levels"] + 1))
    assert set(acc["seed"]) == set(study["seeds"])
    assert (acc["study"] == "frankle_bau").all()
    sp = acc.drop_duplicates(["seed", "level"]).groupby("level")["sparsity"].first()
    assert sp[0] == 0.0 and sp[1] == pytest.approx(0.2, abs=1e-3) and sp[2] == pytest.approx(0.36, abs=1e-3)
    units = pd.read_csv(wd / "results/frankle_bau/tables/dissection_units.csv")
    assert {"layer", "unit", "label", "category", "iou", "threshold", "interpretable"} <= set(units.columns)
    assert len(units) == len(study["seeds"]) * (study["levels"] + 1) * 2 * cfg["models"]["convnet-w4"]["kwargs"]["width"]
    per_run = pd.read_csv(wd / "results/dense/convnet-w4/seed0/dissection.csv")
    assert list(per_run.columns) == ["layer", "unit", "label", "category", "iou", "threshold", "interpretable"]
    assert (wd / "logs/dense/convnet-w4/seed0.log").read_text().startswith("rule train_dense")


def test_noop_rerun_schedules_nothing(workflow_run):
    out = _smk(workflow_run, "-n").stdout
    assert _planned_rules(out) == {}, out[-2000:]


def test_figure_only_parameter_reruns_only_that_figure(workflow_run, tmp_path):
    cfg = yaml.safe_load((workflow_run / "config/test.yaml").read_text())
    cfg["figures"]["fb_fig2"]["title"] = "A different title"
    (workflow_run / "config/changed.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", "config/changed.yaml"],
                          cwd=workflow_run, capture_output=True, text=True, check=True)
    planned = _planned_rules(proc.stdout)
    assert planned.pop("all", None) in (None, 1)
    assert planned == {"fb_fig2": 1}, proc.stdout[-2000:]


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (lambda c: c["train"].__setitem__("precision", "fp16"), "precision", "fp32"),
        (lambda c: c["studies"]["frankle_bau"].__setitem__("model", "nope"), "studies.frankle_bau.model",
         "convnet-w4"),
        (lambda c: c["dissect"].__setitem__("layers", ["conv9"]), "dissect.layers", "conv3"),
    ],
)
def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path, edit, key, allowed):
    wd = _copy_workflow(tmp_path)
    cfg = yaml.safe_load((wd / "config/test.yaml").read_text())
    edit(cfg)
    (wd / "config/test.yaml").write_text(yaml.safe_dump(cfg))
    proc = _smk(wd, check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert key in message and allowed in message, message[-2000:]
    assert not (wd / "results").exists()
