"""A copy of the workflow to run Snakemake in, and the paper configs' data on fixtures in the real
on-disk layouts (ImageNet ImageFolder, Broden); used by the tests and by ``bench/paper_cost.py``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_workflow(dest: Path) -> Path:
    """The workflow's files (rules, configs, profiles, pinned requirements) copied under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("Snakefile", "workflow", "config", "envs", "requirements.lock", "profiles"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    return dest


def write_imagenet_fixture(root: Path) -> None:
    """Two WordNet-id classes with one small JPEG each, under ``root/train`` and ``root/val``."""
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("n01440764", "n01443537"):
            d = root / split / cls
            d.mkdir(parents=True)
            Image.new("RGB", (40, 30), (200, 10, 10)).save(d / "a.JPEG")


def imagenet_broden_paths(tmp: Path) -> dict[str, str]:
    """ImageNet and Broden fixtures written under ``tmp``: the ``data`` paths that point to them."""
    from broden_fixture import write_broden_fixture

    write_imagenet_fixture(tmp / "imagenet")
    write_broden_fixture(tmp / "broden")
    return {"train_dir": str(tmp / "imagenet/train"), "val_dir": str(tmp / "imagenet/val"),
            "probe_dir": str(tmp / "broden")}


def paper_dry_run(tmp: Path, config: str, paths: dict[str, str]) -> subprocess.CompletedProcess:
    """``snakemake -n`` of ``config`` (relative to the repository) in a copy of the workflow under
    ``tmp/wf``, its data paths replaced by ``paths``."""
    wd = copy_workflow(tmp / "wf")
    (wd / "paths.yaml").write_text(yaml.safe_dump({"data": paths}))
    return subprocess.run(SNAKEMAKE + ["--cores", "2", "-n", "--configfile", config, "paths.yaml"], cwd=wd,
                          capture_output=True, text=True)
