# Config validation (with schema defaults), path helpers and input functions. No lambdas in rules.
from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml", set_default=True)
config["studies"] = {name: s for name, s in config["studies"].items() if s.get("enabled", True)}

RESULTS = "results"
DATA = f"{RESULTS}/data/{config['data']['source']}"
ENV = "../../envs/pruneinterp.yaml"
RUN_DIR = RESULTS + "/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}"
# One-shot masks do not depend on how the network is retrained afterwards: one mask per target,
# shared by every retraining strategy.
ONESHOT_MASK = RESULTS + "/{study}/{model}/seed{seed}/{method}/oneshot/level{level}/mask.pt"

# Paper figures and tables: which study they draw, from which tables (Contract 3), and the arms
# (method, schedule, retrain) they need. One rule and one file per format each (figures.smk).
FIGURES = {
    "fb_fig1": {"study": "frankle_bau", "tables": ["accuracy"], "paper": "Frankle & Bau 2019"},
    "fb_fig2": {"study": "frankle_bau", "tables": ["summary"], "paper": "Frankle & Bau 2019"},
    "fb_fig3": {"study": "frankle_bau", "tables": ["summary"], "paper": "Frankle & Bau 2019"},
    "fb_fig4": {"study": "frankle_bau", "tables": ["units"], "paper": "Frankle & Bau 2019"},
    "vrs_fig1": {"study": "von_rad_seuffert", "tables": ["accuracy"], "paper": "von Rad & Seuffert 2024",
                 "needs": [("{method}", "oneshot", "none")]},
    "vrs_fig2": {"study": "von_rad_seuffert", "tables": ["accuracy"], "paper": "von Rad & Seuffert 2024",
                 "needs": [("{method}", "oneshot", "finetune_sgd")]},
    "vrs_fig3": {"study": "von_rad_seuffert", "tables": ["accuracy"], "paper": "von Rad & Seuffert 2024",
                 "needs": [("{method}", "oneshot", "finetune_sgd"), ("{method}", "iterative", "finetune_sgd")]},
    "vrs_fig4": {"study": "von_rad_seuffert", "tables": ["accuracy"], "paper": "von Rad & Seuffert 2024",
                 "needs": []},
    "bl_table1": {"study": "blakeney", "tables": ["accuracy"], "paper": "Blakeney et al. 2020", "table": True,
                  "needs": [("{method}", "oneshot", r) for r in ("finetune_sgd", "reinit", "random_reinit")]},
    "bl_table3": {"study": "blakeney", "tables": ["accuracy"], "paper": "Blakeney et al. 2020", "table": True,
                  "needs": [("{method}", "iterative", "finetune_sgd")]},
}
FIGURE_METHOD_DEFAULT = {"vrs": "magnitude_global", "bl": "magnitude_layerwise"}

wildcard_constraints:
    seed=r"\d+",
    level=r"\d+",
    study=r"[a-z_]+",
    model=r"[A-Za-z0-9_\-]+",
    method=r"[a-z0-9_]+",
    schedule=r"iterative|oneshot",
    retrain=r"[a-z_]+",
    run=r"results/(dense|[a-z_]+)/.+",


def _fail(message):
    raise ValueError(f"config error: {message}")


def arms(study):
    """The study's arms, each a dict with method, schedule, retrain (list) and levels."""
    out = []
    for arm in config["studies"][study]["arms"]:
        arm = dict(arm)
        if arm["schedule"] == "oneshot":
            arm["levels"] = len(arm["targets"])
        out.append(arm)
    return out


def find_arm(study, method, schedule):
    for arm in arms(study):
        if arm["method"] == method and arm["schedule"] == schedule:
            return arm
    _fail(f"studies.{study} has no arm with method {method!r} and schedule {schedule!r}")


def study_has(study, method, schedule, retrain):
    return any(a["method"] == method and a["schedule"] == schedule and retrain in a["retrain"]
               for a in arms(study))


def _check_config():
    """Cross-key checks the schema cannot express; errors name the key and the allowed values."""
    models = config["models"]
    for study, cfg in config["studies"].items():
        if cfg["model"] not in models:
            _fail(f"studies.{study}.model = {cfg['model']!r}; allowed: {', '.join(models)}")
        seen = set()
        for i, arm in enumerate(cfg["arms"]):
            key = f"studies.{study}.arms[{i}]"
            if (arm["method"], arm["schedule"]) in seen:
                _fail(f"{key}: a second arm with method {arm['method']} and schedule {arm['schedule']}; "
                      f"list all its retrain strategies in one arm")
            seen.add((arm["method"], arm["schedule"]))
            if arm["schedule"] == "iterative" and "levels" not in arm:
                _fail(f"{key}.levels is required for schedule iterative")
            if arm["schedule"] == "oneshot":
                targets = arm.get("targets")
                if not targets:
                    _fail(f"{key}.targets (increasing fractions in (0, 1)) is required for schedule oneshot")
                if list(targets) != sorted(set(targets)):
                    _fail(f"{key}.targets must be strictly increasing; got {targets}")
            for r in arm["retrain"]:
                if r.startswith("finetune_") and r.removeprefix("finetune_") not in config["finetune"]:
                    _fail(f"{key}.retrain contains {r}, but finetune.{r.removeprefix('finetune_')} is not "
                          f"set; allowed optimisers: sgd, adam")
    if "frankle_bau" in config["studies"]:
        fb = config["studies"]["frankle_bau"]["arms"]
        if len(fb) != 1 or len(fb[0]["retrain"]) != 1:
            _fail("studies.frankle_bau.arms must be exactly one arm with one retrain strategy "
                  "(the figures fb_fig1-4 draw one pruning chain per seed)")
    for layer in config["dissect"]["layers"]:
        if layer not in config["extract"]["layers"]:
            _fail(f"dissect.layers contains {layer!r}, which is not extracted; "
                  f"allowed (extract.layers): {', '.join(config['extract']['layers'])}")
    for fig, spec in FIGURES.items():
        fcfg = config["figures"].setdefault(fig, {})
        fcfg.setdefault("title", "")
        prefix = fig.split("_")[0]
        if prefix in FIGURE_METHOD_DEFAULT:
            fcfg.setdefault("method", FIGURE_METHOD_DEFAULT[prefix])
        study = spec["study"]
        if study not in config["studies"]:
            continue
        for method, schedule, retrain in spec.get("needs", []):
            method = method.format(method=fcfg.get("method"))
            if not study_has(study, method, schedule, retrain):
                _fail(f"figures.{fig} needs an arm of studies.{study} with method {method}, schedule {schedule} "
                      f"and retrain {retrain}; add it, set figures.{fig}.method, or remove the study")
    seed = config["figures"]["fb_fig3"].setdefault("seed", 0)
    if "frankle_bau" in config["studies"] and seed not in config["studies"]["frankle_bau"]["seeds"]:
        _fail(f"figures.fb_fig3.seed = {seed}; allowed: {config['studies']['frankle_bau']['seeds']} "
              f"(studies.frankle_bau.seeds)")


_check_config()


def canonical(value):
    """Recursively key-sorted copy: rule params must not depend on the order of keys in a config
    file (Snakemake compares params as recorded, so a reordered file would rerun everything)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def dense_dir(model, seed):
    return f"{RESULTS}/dense/{model}/seed{seed}"


def run_dir(study, seed, level, method, schedule, retrain):
    """Directory of a run; level 0 of every arm is the shared dense model."""
    model = config["studies"][study]["model"]
    if int(level) == 0:
        return dense_dir(model, seed)
    return RUN_DIR.format(study=study, model=model, seed=seed, level=level, method=method, schedule=schedule,
                          retrain=retrain)


def study_runs(study):
    """Every run of a study (level 0 = dense, once per arm and strategy), as identity dicts."""
    cfg = config["studies"][study]
    return [
        {"study": study, "model": cfg["model"], "seed": seed, "method": arm["method"], "schedule": arm["schedule"],
         "retrain": retrain, "level": level}
        for arm in arms(study)
        for retrain in arm["retrain"]
        for seed in cfg["seeds"]
        for level in range(arm["levels"] + 1)
    ]


def _run_path(run, name):
    return run_dir(run["study"], run["seed"], run["level"], run["method"], run["schedule"], run["retrain"]) + "/" + name


def model_params(model):
    m = config["models"][model]
    return canonical({"arch": m["arch"], "kwargs": m.get("kwargs", {})})


def train_params():
    t = dict(config["train"])
    for key in ("rewind_iteration", "threads"):
        t.pop(key)
    return canonical(t)


# ---- input functions -------------------------------------------------------------------------


def prune_iterative_input(wildcards):
    """Level k of an iterative schedule prunes level k-1's retrained network."""
    w = wildcards
    return run_dir(w.study, w.seed, int(w.level) - 1, w.method, "iterative", w.retrain) + "/checkpoint.pt"


def prune_oneshot_input(wildcards):
    return dense_dir(wildcards.model, wildcards.seed) + "/checkpoint.pt"


def _prune_params(wildcards, schedule):
    """What the mask of this level depends on: method, fraction and the study's prunable layers."""
    arm = find_arm(wildcards.study, wildcards.method, schedule)
    level = int(wildcards.level)
    if not 1 <= level <= arm["levels"]:
        _fail(f"level {level} outside 1..{arm['levels']} of studies.{wildcards.study} arm "
              f"{wildcards.method}/{schedule}")
    fraction = arm["targets"][level - 1] if arm["schedule"] == "oneshot" else arm.get("fraction", 0.2)
    return canonical({"method": arm["method"], "fraction": fraction, "level": level,
                      **config["studies"][wildcards.study]["prune"]})


def prune_iterative_params(wildcards):
    return _prune_params(wildcards, "iterative")


def prune_oneshot_params(wildcards):
    return _prune_params(wildcards, "oneshot")


def retrain_input(wildcards):
    w = wildcards
    inputs = {"train": f"{DATA}/train.npz", "val": f"{DATA}/val.npz"}
    if w.schedule == "oneshot":
        inputs["mask"] = ONESHOT_MASK.format(study=w.study, model=w.model, seed=w.seed, method=w.method, level=w.level)
    else:
        inputs["mask"] = RUN_DIR.format(**dict(w.items())) + "/mask.pt"
    if w.retrain == "rewind":
        inputs["rewind"] = dense_dir(w.model, w.seed) + "/rewind.pt"
    return inputs


def retrain_params(wildcards):
    """Only the settings this strategy uses, so e.g. a new fine-tuning lr reruns only fine-tuning."""
    r = wildcards.retrain
    return canonical({
        "strategy": r,
        "train": {} if r == "none" else train_params(),
        "finetune": {k: v for k, v in config["finetune"].items() if k in ("epochs", r.removeprefix("finetune_"))}
        if r.startswith("finetune_") else {},
    })


def study_metrics(wildcards):
    return [_run_path(r, "metrics.csv") for r in study_runs(wildcards.study)]


def study_checkpoints(wildcards):
    return [_run_path(r, "checkpoint.pt") for r in study_runs(wildcards.study)]


def study_dissections(wildcards):
    return [_run_path(r, "dissection.csv") for r in study_runs(wildcards.study)]


def study_tables_files(study):
    t = f"{RESULTS}/{study}/tables"
    return {"accuracy": f"{t}/accuracy.csv", "sparsity": f"{t}/sparsity.csv",
            "units": f"{t}/dissection_units.csv", "summary": f"{t}/dissection_summary.csv"}


def figure_files(name):
    exts = (["csv"] if FIGURES[name].get("table") else []) + list(config["figures"]["formats"])
    return [f"{RESULTS}/figures/{name}.{ext}" for ext in exts]


def figure_inputs(name):
    files = study_tables_files(FIGURES[name]["study"])
    return {key: files[key] for key in FIGURES[name]["tables"]}


def all_targets():
    targets = []
    for fig, spec in FIGURES.items():
        if spec["study"] in config["studies"]:
            targets += figure_files(fig)
    return targets


def dense_model_params(wildcards):
    return model_params(wildcards.model)


def study_runs_params(wildcards):
    return study_runs(wildcards.study)


def study_prunable_params(wildcards):
    return canonical(config["studies"][wildcards.study]["prune"])


def chain_priority(wildcards):
    """Scheduling priority of the pruning chains (prune/retrain): lower levels first, so that the
    seeds' sequential chains advance together and no chain is left running alone at the end;
    extraction and dissection (leaves of the DAG, priority 0) fill the remaining cores."""
    return 1000 - int(wildcards.level)
