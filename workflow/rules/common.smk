# Config validation (with schema defaults), path helpers and input functions. No lambdas in rules.
import json

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml", set_default=True)

RESULTS = "results"
DATA = f"{RESULTS}/data/{config['data']['source']}"
ENV = "../../envs/pruneinterp.yaml"
FB_FIGURES = ["fb_fig1", "fb_fig2", "fb_fig3", "fb_fig4"]
RUN_DIR = (
    RESULTS + "/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}"
)

wildcard_constraints:
    seed=r"\d+",
    level=r"\d+",
    study=r"[a-z_]+",
    model=r"[A-Za-z0-9_\-]+",
    run=r"results/(dense|[a-z_]+)/.+",


def _check_config():
    """Cross-key checks the schema cannot express; errors name the key and the allowed values."""
    models = config["models"]
    for study, cfg in config["studies"].items():
        if cfg["model"] not in models:
            raise ValueError(
                f"config error: studies.{study}.model = {cfg['model']!r}; allowed: {', '.join(models)}"
            )
    for layer in config["dissect"]["layers"]:
        if layer not in config["extract"]["layers"]:
            raise ValueError(
                f"config error: dissect.layers contains {layer!r}, which is not extracted; "
                f"allowed (extract.layers): {', '.join(config['extract']['layers'])}"
            )
    for fig in FB_FIGURES:
        config["figures"].setdefault(fig, {})
        config["figures"][fig].setdefault("title", "")
    seed = config["figures"]["fb_fig3"].setdefault("seed", 0)
    if "frankle_bau" in config["studies"] and seed not in config["studies"]["frankle_bau"]["seeds"]:
        raise ValueError(
            f"config error: figures.fb_fig3.seed = {seed}; allowed: "
            f"{config['studies']['frankle_bau']['seeds']} (studies.frankle_bau.seeds)"
        )


_check_config()


def canonical(value):
    """Recursively key-sorted copy: rule params must not depend on the order of keys in a config
    file (Snakemake compares params as recorded, so a reordered file would rerun everything)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def study_ident(study):
    """method / schedule / retrain of a study (fixed for Frankle & Bau)."""
    cfg = config["studies"][study]
    return {"method": cfg["prune"]["method"], "schedule": "iterative", "retrain": "rewind"}


def dense_dir(model, seed):
    return f"{RESULTS}/dense/{model}/seed{seed}"


def run_dir(study, seed, level):
    """Directory of a study's run at a level; level 0 is the shared dense model."""
    cfg = config["studies"][study]
    if int(level) == 0:
        return dense_dir(cfg["model"], seed)
    return RUN_DIR.format(study=study, model=cfg["model"], seed=seed, level=level, **study_ident(study))


def study_runs(study):
    cfg = config["studies"][study]
    return [
        {"study": study, "model": cfg["model"], "seed": seed, "level": level, **study_ident(study)}
        for seed in cfg["seeds"]
        for level in range(cfg["levels"] + 1)
    ]


def model_params(model):
    m = config["models"][model]
    return canonical({"arch": m["arch"], "kwargs": m.get("kwargs", {})})


def train_params():
    t = dict(config["train"])
    for key in ("rewind_iteration", "threads"):
        t.pop(key)
    return canonical(t)


# ---- input functions -------------------------------------------------------------------------


def prune_input(wildcards):
    return run_dir(wildcards.study, wildcards.seed, int(wildcards.level) - 1) + "/checkpoint.pt"


def rewind_input(wildcards):
    return dense_dir(wildcards.model, wildcards.seed) + "/rewind.pt"


def study_metrics(wildcards):
    return [run_dir(r["study"], r["seed"], r["level"]) + "/metrics.csv" for r in study_runs(wildcards.study)]


def study_dissections(wildcards):
    return [run_dir(r["study"], r["seed"], r["level"]) + "/dissection.csv" for r in study_runs(wildcards.study)]


def figure_files(name):
    return [f"{RESULTS}/figures/{name}.{ext}" for ext in config["figures"]["formats"]]


def all_targets():
    targets = []
    if "frankle_bau" in config["studies"]:
        for fig in FB_FIGURES:
            targets += figure_files(fig)
    return targets


def dense_model_params(wildcards):
    return model_params(wildcards.model)


def study_prune_params(wildcards):
    return canonical(config["studies"][wildcards.study]["prune"])


def study_runs_params(wildcards):
    return study_runs(wildcards.study)


def study_ident_params(wildcards):
    return {"study": wildcards.study, **study_ident(wildcards.study)}


def chain_priority(wildcards):
    """Scheduling priority of the pruning chain (prune/retrain): lower levels first, so that the
    seeds' sequential chains advance together and no chain is left running alone at the end;
    extraction and dissection (leaves of the DAG, priority 0) fill the remaining cores."""
    return 1000 - int(wildcards.level)
