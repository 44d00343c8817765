# Config validation and thin glue: the study/arm model, the checks, the rule params and the results
# layout live in the library (pruneinterp.studies, pruneinterp.paths), unit-tested without Snakemake.
# Input functions only turn wildcards into a Run and ask the Plan. No lambdas in rules.
import sys

from snakemake.utils import validate

sys.path.insert(0, f"{workflow.basedir}/src")  # the library beside the Snakefile, whatever Python runs this
from pruneinterp import paths
from pruneinterp.configcheck import check_config
from pruneinterp.figures.spec import FIGURES
from pruneinterp.resources import ANALYSIS, EXTRACT, TRAINING
from pruneinterp.resources import Resources as JobResources  # not `Resources`: a name Snakemake uses here
from pruneinterp.studies import Plan, Run


check_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")  # one line per error
validate(config, schema="../schemas/config.schema.yaml", set_default=True)  # and Snakemake's defaults
PLAN = Plan(config)
# threads, GPUs, memory and runtime per rule (pruneinterp.resources): `threads: RES.threads(TRAINING)`,
# `resources: **RES.rule(TRAINING)`; training rules also take RES.launch_params() (torchrun processes)
RES = JobResources(config)

DATA = PLAN.data
ENV = "../../envs/pruneinterp.yaml"
# rule patterns, made by the same functions as concrete paths
W = {k: "{" + k + "}" for k in ("study", "model", "seed", "method", "schedule", "retrain", "level")}
RUN_DIR = paths.run_dir(**W)
DENSE_DIR = paths.dense_dir(W["model"], W["seed"])
ONESHOT_DIR = paths.oneshot_dir(W["study"], W["model"], W["seed"], W["method"], W["level"])
STUDY_TABLE = {name: paths.study_table(W["study"], name) for name in paths.STUDY_TABLES}

wildcard_constraints:
    seed=r"\d+",
    level=r"\d+",
    study=r"[a-z_]+",
    model=paths.NAME,
    method=r"[a-z0-9_]+",
    schedule=r"iterative|oneshot",
    retrain=r"[a-z_]+",
    run=paths.RUN_WILDCARD,


def kept(path, keep):
    """An output kept (``keep``) or made temporary: deleted once every job that reads it has run."""
    return path if keep else temp(path)


# ---- input functions -------------------------------------------------------------------------


def per_run(name):
    """Input function: file ``name`` of every run of the wildcards' study."""

    def files(wildcards):
        return PLAN.run_files(wildcards.study, name)

    return files


def per_baseline(name):
    """Input function: file ``name`` of every reference network (random init) of the study."""

    def files(wildcards):
        return [f"{paths.baseline_dir(r['model'], r['seed'], r['network'])}/{name}"
                for r in PLAN.studies[wildcards.study].baseline_runs()]

    return files


def prune_input(schedule):
    """Input function of the prune rule of ``schedule`` (its paths fix the schedule, and one-shot
    pruning is shared by the retraining strategies, so neither is a wildcard there)."""

    def checkpoint(wildcards):
        w = dict(wildcards.items())
        return PLAN.prune_input(Run(w["study"], w["model"], int(w["seed"]), w["method"], schedule,
                                    w.get("retrain", ""), int(w["level"])))

    return checkpoint


def prune_params(schedule):
    def params(wildcards):
        return PLAN.prune_params(wildcards.study, wildcards.method, schedule, int(wildcards.level))

    return params


def prune_retrain_input(wildcards):
    """Inputs of an iterative level: the previous level's checkpoint (to prune) and what its
    retraining strategy reads, less the pruned network, which the same job makes."""
    w = wildcards
    run = Run(w.study, w.model, int(w.seed), w.method, "iterative", w.retrain, int(w.level))
    inputs = {k: v for k, v in PLAN.retrain_inputs(run).items() if k != "pruned"}
    return {"checkpoint": PLAN.prune_input(run), **inputs}


def retrain_input(wildcards):
    return PLAN.retrain_inputs(Run.from_wildcards(wildcards))


def retrain_params(wildcards):
    return PLAN.retrain_params(wildcards.retrain)


def extract_checkpoint(wildcards):
    return PLAN.checkpoint_of(wildcards.run)


def similarity_reference(wildcards):
    return PLAN.similarity_reference(wildcards.run)


def dense_model_params(wildcards):
    return PLAN.model_params(wildcards.model)


def study_runs_params(wildcards):
    return PLAN.ident_params(wildcards.study)


def study_baseline_params(wildcards):
    return PLAN.studies[wildcards.study].baseline_runs()


def study_prunable_params(wildcards):
    return PLAN.prunable_params(wildcards.study)


def chain_priority(wildcards):
    """Scheduling priority of the pruning chains (prune/retrain): lower levels first, so that the
    seeds' sequential chains advance together and no chain is left running alone at the end;
    extraction and dissection (leaves of the DAG, priority 0) fill the remaining cores."""
    return 1000 - int(wildcards.level)


# ---- controls of the similarity studies (networks nobody pruned) ------------------------------


def dense_retrain_input(wildcards):
    return PLAN.dense_retrain_inputs(wildcards.model, int(wildcards.seed), wildcards.retrain)


def similarity_control_tables(wildcards):
    return [c.table for c in PLAN.similarity_controls(wildcards.study)]


def similarity_control_params(wildcards):
    return [c.ident() for c in PLAN.similarity_controls(wildcards.study)]
