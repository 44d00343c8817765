"""The results layout, in one place (in the spirit of open_lth's ``foundations/paths.py``).

A path says what produced it (DESIGN.md). Every rule, input function and table builds its paths
here, and :func:`parse` reads a run's identity back out of a path. The same functions make Snakemake
patterns when given wildcards: ``run_dir(study="{study}", ...)``.

::

    results/data/<data>/                                  train/val split files, the generated probe
    results/dense/<model>/seed<s>/                        a dense run: init.pt, rewind.pt, checkpoint.pt,
                                                          metrics.csv (shared by every study and arm)
    results/dense/<model>/seed<s>/random_init/            its initial weights as a reference network
    results/dense/<model>/seed<s>/<retrain>/              the dense model retrained without pruning
                                                          (a control of the similarity studies)
    results/dense/<model>/seed<s>/similarity_seed<t>.csv  the dense model of seed t vs this one
    results/<study>/<model>/seed<s>/<method>/<schedule>/<retrain>/level<k>/
                                                          a pruned and retrained run (level >= 1)
        .../epochs/epoch<e>/                              the same run, after every epoch (bl_fig3)
    results/<study>/<model>/seed<s>/<method>/oneshot/level<k>/pruned.pt
                                                          a one-shot pruned network, shared by the
                                                          arm's retraining strategies
    results/<study>/tables/<table>.csv                    tidy study tables (Contract 3)
    results/figures/<figure>.<ext>                        paper figures and tables
    results/validation/                                   planted-unit validation of dissection
    results/provenance.json                               commit, CPU/GPU, versions, config of the run

Logs mirror the results: ``logs/<the results path without results/>/<stage>.log``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RESULTS = "results"
LOGS = "logs"

# files of a run directory
INIT = "init.pt"  # dense runs: the initial weights (iteration 0)
REWIND = "rewind.pt"  # dense runs: the weights at the rewind iteration k
CHECKPOINT = "checkpoint.pt"  # the trained (or retrained) network
PRUNED = "pruned.pt"  # the pruned network before retraining: its masks and masked weights
METRICS = "metrics.csv"
ACTIVATIONS = "activations.h5"
DISSECTION = "dissection.csv"
DISSECTION_IOU = "dissection_iou.h5"
DISSECTION_BOOTSTRAP = "dissection_bootstrap.csv"
MIS = "mis.csv"
CLASS_ACCURACY = "class_accuracy.csv"
SIMILARITY_SAMPLES = "similarity_samples.h5"  # the (image, position) samples the similarity stage compares
SIMILARITY = "similarity.csv"

RANDOM_INIT = "random_init"  # the reference network of a dense run: its initial weights

# study tables: name -> file under results/<study>/tables/
STUDY_TABLES = {"accuracy": "accuracy.csv", "sparsity": "sparsity.csv", "units": "dissection_units.csv",
                "summary": "dissection_summary.csv", "bootstrap": "dissection_bootstrap.csv",
                "baseline": "dissection_baseline.csv", "similarity": "similarity.csv",
                "similarity_epochs": "similarity_epochs.csv", "mis": "mis.csv", "classes": "class_accuracy.csv",
                "similarity_controls": "similarity_controls.csv"}

GROUND_TRUTH = f"{RESULTS}/validation/ground_truth.csv"
GALLERY_INDEX = "index.html"  # a unit gallery's page (pruneinterp.gallery), with its PNGs in png/


def gallery_dir(study: str, seed: int | str, method: str, schedule: str, retrain: str) -> str:
    """The unit gallery of one pruning chain."""
    return f"{RESULTS}/gallery/{study}/seed{seed}/{method}/{schedule}/{retrain}"


SUMMARY_MD = f"{RESULTS}/summary.md"  # the verdict page (pruneinterp.verdicts), markdown for the README
SUMMARY_HTML = f"{RESULTS}/summary.html"  # the verdict page, a report entry
PROVENANCE = f"{RESULTS}/provenance.json"  # the commit, CPU/GPU, versions and config that produced the results
GROUND_TRUTH_ACTIVATIONS = f"{RESULTS}/validation/ground_truth_activations.h5"

# the {run} wildcard of the per-checkpoint analysis rules: any directory with a checkpoint
RUN_WILDCARD = RESULTS + r"/[a-z_]+/[A-Za-z0-9_\-]+/seed\d+(/.+)?"
# names used in paths: studies, models, data sets
NAME = r"[A-Za-z0-9_\-]+"


def data_dir(name: str) -> str:
    return f"{RESULTS}/data/{name}"


def dense_dir(model: str, seed: int | str) -> str:
    return f"{RESULTS}/dense/{model}/seed{seed}"


def baseline_dir(model: str, seed: int | str, network: str = RANDOM_INIT) -> str:
    return f"{dense_dir(model, seed)}/{network}"


def seed_similarity_file(model: str, seed: int | str, other: int | str) -> str:
    """Similarity of the dense model of seed ``other`` to the dense model of ``seed`` (a control of
    the similarity studies; shared by every study of the model)."""
    return f"{dense_dir(model, seed)}/similarity_seed{other}.csv"


def seed_dir(study: str, model: str, seed: int | str) -> str:
    return f"{RESULTS}/{study}/{model}/seed{seed}"


def run_dir(study: str, model: str, seed: int | str, method: str, schedule: str, retrain: str,
            level: int | str) -> str:
    """A run's directory; level 0 of every arm is the shared dense model of its seed."""
    if str(level) == "0":
        return dense_dir(model, seed)
    return f"{seed_dir(study, model, seed)}/{method}/{schedule}/{retrain}/level{level}"


def oneshot_dir(study: str, model: str, seed: int | str, method: str, level: int | str) -> str:
    """One-shot masks do not depend on how the network is retrained afterwards: one pruned network
    per target, shared by every retraining strategy of the arm."""
    return f"{seed_dir(study, model, seed)}/{method}/oneshot/level{level}"


def pruned_file(study: str, model: str, seed: int | str, method: str, schedule: str, retrain: str,
                level: int | str) -> str:
    """The pruned network that level ``level``'s retraining starts from."""
    if schedule == "oneshot":
        return f"{oneshot_dir(study, model, seed, method, level)}/{PRUNED}"
    return f"{run_dir(study, model, seed, method, schedule, retrain, level)}/{PRUNED}"


def epochs_dir(run: str) -> str:
    return f"{run}/epochs"


def epoch_dir(run: str, epoch: int | str) -> str:
    return f"{epochs_dir(run)}/epoch{epoch}"


def tables_dir(study: str) -> str:
    return f"{RESULTS}/{study}/tables"


def study_table(study: str, name: str) -> str:
    if name not in STUDY_TABLES:
        raise KeyError(f"unknown study table {name!r}; known: {', '.join(STUDY_TABLES)}")
    return f"{tables_dir(study)}/{STUDY_TABLES[name]}"


def figure_file(name: str, ext: str) -> str:
    return f"{RESULTS}/figures/{name}.{ext}"


def log(path: str, stage: str) -> str:
    """The log of ``stage`` for the results directory ``path``."""
    return f"{LOGS}/{path.removeprefix(RESULTS + '/')}/{stage}.log"


def benchmark(path: str, stage: str) -> str:
    return log(path, stage).removesuffix(".log") + ".bench.tsv"


@dataclass(frozen=True)
class Location:
    """What a results directory holds, read back from its path (:func:`parse`). ``study`` is
    ``dense`` for a dense run; ``network`` names a reference network (``random_init``, or a retrain
    strategy: the dense model retrained without pruning); ``epoch``
    a per-epoch checkpoint of a run; ``retrain`` is None for a shared one-shot pruned network."""

    study: str
    model: str
    seed: int
    method: str | None = None
    schedule: str | None = None
    retrain: str | None = None
    level: int = 0
    network: str | None = None
    epoch: int | None = None

    @property
    def dense(self) -> str:
        """The dense run of this location's model and seed."""
        return dense_dir(self.model, self.seed)


_SEG = r"[^/]+"
_DENSE = re.compile(rf"^{RESULTS}/dense/(?P<model>{_SEG})/seed(?P<seed>\d+)(?:/(?P<network>{_SEG}))?$")
_RUN = re.compile(rf"^{RESULTS}/(?P<study>{_SEG})/(?P<model>{_SEG})/seed(?P<seed>\d+)/(?P<method>{_SEG})/"
                  rf"(?P<schedule>iterative|oneshot)/(?:(?P<retrain>{_SEG})/)?level(?P<level>\d+)"
                  rf"(?:/epochs/epoch(?P<epoch>\d+))?$")


def parse(path: str) -> Location:
    """The identity of a results directory made by :func:`dense_dir`, :func:`baseline_dir`,
    :func:`run_dir`, :func:`oneshot_dir` or :func:`epoch_dir`."""
    path = path.rstrip("/")
    m = _DENSE.match(path)
    if m:
        return Location("dense", m["model"], int(m["seed"]), network=m["network"])
    m = _RUN.match(path)
    if m and not (m["retrain"] is None and (m["schedule"] != "oneshot" or m["epoch"] is not None)):
        return Location(m["study"], m["model"], int(m["seed"]), m["method"], m["schedule"], m["retrain"],
                        int(m["level"]), epoch=None if m["epoch"] is None else int(m["epoch"]))
    raise ValueError(f"{path}: not a results directory of this layout ({RESULTS}/dense/<model>/seed<s>[/<network>] "
                     f"or {RESULTS}/<study>/<model>/seed<s>/<method>/<schedule>/<retrain>/level<k>[/epochs/epoch<e>])")
