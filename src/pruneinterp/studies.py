"""Studies, arms and runs: what the workflow computes, derived from the (schema-validated) config.

A *study* (frankle_bau, von_rad_seuffert, blakeney, ...) trains one model over some seeds and prunes
it in *arms*: a pruning method on a schedule (iterative levels, or one-shot targets), each pruned
network retrained by one or more strategies. A *run* is one (arm, strategy, seed, level); level 0 of
every arm is the shared dense model of its seed.

:class:`Plan` reads the config once, runs the cross-key checks the schema cannot express (errors
name the key and the allowed values) and returns derived settings instead of editing the config.
It also gives every rule its params, so that a rule's params hold only what its output depends on.
Paths come from :mod:`pruneinterp.paths`. Nothing here imports torch: this runs in every job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from . import paths
from .architectures import KWARGS, UNIT_LAYERS
from .data.augment import conflict as augment_conflict
from .figures.spec import FIGURES, Figure
from .retraining import STRATEGIES


class ConfigError(ValueError):
    """A config value the workflow cannot use; the message names the key and what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(f"config error: {message}")


def canonical(value: Any) -> Any:
    """Recursively key-sorted copy: rule params must not depend on the order of keys in a config
    file (Snakemake compares params as recorded, so a reordered file would rerun everything)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class Run:
    """One network of a study's pruning chains."""

    study: str
    model: str
    seed: int
    method: str
    schedule: str
    retrain: str
    level: int

    @classmethod
    def from_wildcards(cls, w: Any) -> "Run":
        return cls(w.study, w.model, int(w.seed), w.method, w.schedule, w.retrain, int(w.level))

    @property
    def dir(self) -> str:
        return paths.run_dir(self.study, self.model, self.seed, self.method, self.schedule, self.retrain, self.level)

    def file(self, name: str) -> str:
        return f"{self.dir}/{name}"

    @property
    def pruned(self) -> str:
        """The pruned network this run's retraining starts from."""
        return paths.pruned_file(self.study, self.model, self.seed, self.method, self.schedule, self.retrain,
                                 self.level)

    @property
    def previous(self) -> "Run":
        """Level k-1 of the same chain (what an iterative schedule prunes at level k)."""
        return Run(self.study, self.model, self.seed, self.method, self.schedule, self.retrain, self.level - 1)

    def ident(self) -> dict[str, Any]:
        """The run's identity as the columns of the study tables."""
        return {"study": self.study, "model": self.model, "seed": self.seed, "method": self.method,
                "schedule": self.schedule, "retrain": self.retrain, "level": self.level}


@dataclass(frozen=True)
class Arm:
    method: str
    schedule: str  # iterative | oneshot
    retrain: tuple[str, ...]
    levels: int
    fraction: float = 0.2  # iterative: of the remaining weights, per level
    targets: tuple[float, ...] = ()  # oneshot: level k prunes the dense network to targets[k-1]

    def fraction_at(self, level: int) -> float:
        return self.targets[level - 1] if self.schedule == "oneshot" else self.fraction


# studies.<name>.similarity_controls (the schema's defaults are these; a test checks it): seeds None =
# every other seed of the study's model in the enabled studies; retrain: strategies applied to the
# dense model without pruning
CONTROL_DEFAULTS: dict[str, Any] = {"seeds": None, "retrain": ["finetune_sgd"]}


@dataclass(frozen=True)
class Study:
    name: str
    model: str
    seeds: tuple[int, ...]
    arms: tuple[Arm, ...]
    dissect: bool = False
    mis: bool = False
    similarity: bool = False
    prune: dict[str, Any] | None = None  # include / exclude / layer_scale, for every arm
    similarity_controls: dict[str, Any] = field(default_factory=lambda: dict(CONTROL_DEFAULTS))

    def arm(self, method: str, schedule: str) -> Arm:
        for arm in self.arms:
            if arm.method == method and arm.schedule == schedule:
                return arm
        raise ConfigError(f"studies.{self.name} has no arm with method {method!r} and schedule {schedule!r}")

    def has(self, method: str, schedule: str, retrain: str) -> bool:
        return any(a.method == method and a.schedule == schedule and retrain in a.retrain for a in self.arms)

    def runs(self) -> list[Run]:
        """Every run (level 0 = dense, once per arm and strategy), arm by arm, strategy, seed, level."""
        return [Run(self.name, self.model, seed, arm.method, arm.schedule, retrain, level)
                for arm in self.arms for retrain in arm.retrain for seed in self.seeds
                for level in range(arm.levels + 1)]

    def baseline_runs(self) -> list[dict[str, Any]]:
        """Reference networks outside the pruning chains: each seed's random initialisation."""
        return [{"study": self.name, "model": self.model, "seed": seed, "network": paths.RANDOM_INIT}
                for seed in self.seeds]

    @classmethod
    def from_config(cls, name: str, cfg: dict[str, Any]) -> "Study":
        arms = []
        for i, a in enumerate(cfg["arms"]):
            key = f"studies.{name}.arms[{i}]"
            if a["schedule"] == "iterative":
                if "levels" not in a:
                    raise ConfigError(f"{key}.levels is required for schedule iterative")
                arm = Arm(a["method"], "iterative", tuple(a["retrain"]), a["levels"], a.get("fraction", 0.2))
            else:
                targets = a.get("targets")
                if not targets:
                    raise ConfigError(f"{key}.targets (increasing fractions in (0, 1)) is required for schedule "
                                      f"oneshot")
                if list(targets) != sorted(set(targets)):
                    raise ConfigError(f"{key}.targets must be strictly increasing; got {targets}")
                arm = Arm(a["method"], "oneshot", tuple(a["retrain"]), len(targets), targets=tuple(targets))
            if any((b.method, b.schedule) == (arm.method, arm.schedule) for b in arms):
                raise ConfigError(f"{key}: a second arm with method {arm.method} and schedule {arm.schedule}; "
                                  f"list all its retrain strategies in one arm")
            for r in arm.retrain:
                if r not in STRATEGIES:
                    raise ConfigError(f"{key}.retrain contains {r!r}; allowed: {', '.join(STRATEGIES)}")
            arms.append(arm)
        return cls(name, cfg["model"], tuple(cfg["seeds"]), tuple(arms), bool(cfg.get("dissect")),
                   bool(cfg.get("mis")), bool(cfg.get("similarity")), dict(cfg.get("prune") or {}),
                   {**CONTROL_DEFAULTS, **(cfg.get("similarity_controls") or {})})


@dataclass(frozen=True)
class Data:
    """The data sets: generated shapes (train/val arrays and a Broden-format probe, all made by the
    data stage) or ImageFolder trees on disk (indexed by the data stage) with a Broden probe."""

    source: str
    dir: str
    train: str
    val: str
    probe: str

    @classmethod
    def from_config(cls, d: dict[str, Any]) -> "Data":
        root = paths.data_dir(d.get("name") or d["source"])
        if d["source"] == "shapes":
            return cls("shapes", root, f"{root}/train.npz", f"{root}/val.npz", f"{root}/probe")
        if d["source"] in ("cifar10", "cifar100"):
            for key in ("cifar_dir", "probe_dir"):
                if not d.get(key):
                    raise ConfigError(f"data.{key} is required for data.source {d['source']}")
                if not os.path.isdir(d[key]):
                    raise ConfigError(f"data.{key} = {d[key]!r}: no such directory (allowed: an existing directory; "
                                      f"{'a Broden-format probe' if key == 'probe_dir' else 'torchvision CIFAR files'})")
            return cls(d["source"], root, f"{root}/train.npz", f"{root}/val.npz", d["probe_dir"])
        for key in ("train_dir", "val_dir", "probe_dir"):
            if not d.get(key):
                raise ConfigError(f"data.{key} is required for data.source imagefolder")
            if not os.path.isdir(d[key]):
                raise ConfigError(f"data.{key} = {d[key]!r}: no such directory (allowed: an existing directory; "
                                  f"{'a Broden-format probe' if key == 'probe_dir' else 'an ImageFolder tree'})")
        return cls("imagefolder", root, f"{root}/train.csv", f"{root}/val.csv", d["probe_dir"])

    def tree_params(self, config: dict[str, Any]) -> dict[str, str]:
        """What the index of the ImageFolder splits depends on besides the paths: the trees' shapes
        (:func:`pruneinterp.io.tree_signature`), so that adding or removing images re-indexes."""
        from .io import tree_signature

        return {key: tree_signature(config[key]) for key in ("train_dir", "val_dir")}


@dataclass(frozen=True)
class EpochRun:
    """A run retrained once more with a checkpoint after every epoch (figures with ``epochs``)."""

    run: Run
    epochs: int

    @property
    def dir(self) -> str:
        return paths.epochs_dir(self.run.dir)

    def epoch_dirs(self) -> list[str]:
        return [paths.epoch_dir(self.run.dir, e) for e in range(self.epochs + 1)]


@dataclass(frozen=True)
class Control:
    """A reference comparison outside the pruning chains, for the claim "pruning is not compression"
    (Blakeney et al.): how far apart are two networks that nobody pruned? ``between_seeds``: the dense
    model of ``other_seed`` vs the dense model of ``seed`` (independent training runs, same model and
    data); ``dense_retrained``: the dense model of ``seed`` retrained by ``retrain`` with no pruning
    (all weights kept) vs itself before, i.e. how much the retraining alone moves the representation.
    Both are compared like the runs: the control network first, the dense model of ``seed`` second."""

    study: str
    model: str
    seed: int
    control: str  # between_seeds | dense_retrained
    other_seed: int
    retrain: str  # dense_retrained: the strategy; between_seeds: none

    @property
    def dir(self) -> str:
        """The control network's directory (a dense run, or a retrained copy of one)."""
        if self.control == "between_seeds":
            return paths.dense_dir(self.model, self.other_seed)
        return paths.baseline_dir(self.model, self.seed, self.retrain)

    @property
    def table(self) -> str:
        """Its similarity table (Contract 3), shared by every study that uses the same model."""
        if self.control == "between_seeds":
            return paths.seed_similarity_file(self.model, self.seed, self.other_seed)
        return f"{self.dir}/{paths.SIMILARITY}"

    def ident(self) -> dict[str, Any]:
        return {"study": self.study, "model": self.model, "seed": self.seed, "control": self.control,
                "other_seed": self.other_seed, "retrain": self.retrain}


class Plan:
    """The validated config, read once. ``studies`` holds the enabled studies; ``figure_settings``
    each figure's settings with their defaults (the config is not edited)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.data = Data.from_config(config["data"])
        models = config["models"]
        for model in models:
            if not _safe_name(model):
                raise ConfigError(f"models.{model}: a model id is used in paths; allowed: letters, digits, _ and -")
        for model, spec in models.items():
            allowed = KWARGS.get(spec["arch"], ())
            for key in spec.get("kwargs") or {}:
                if key not in allowed:
                    raise ConfigError(f"models.{model}.kwargs.{key}: not an argument of arch {spec['arch']}; "
                                      f"allowed: {', '.join(allowed) or 'none'}")
        train = config.get("train", {})
        problem = augment_conflict(train.get("augment", "none"), train.get("shift", 0), train.get("flip", False))
        if problem:
            raise ConfigError(problem)
        known = sorted({spec.study for spec in FIGURES.values()})
        self.studies: dict[str, Study] = {}
        for name, cfg in config["studies"].items():
            if name not in known:
                raise ConfigError(f"studies.{name}: unknown study (it would make no jobs); allowed: {', '.join(known)}")
            if not cfg.get("enabled", True):
                continue
            if cfg["model"] not in models:
                raise ConfigError(f"studies.{name}.model = {cfg['model']!r}; allowed: {', '.join(models)}")
            self.studies[name] = Study.from_config(name, cfg)
        for study in self.studies.values():
            for arm in study.arms:
                for r in arm.retrain:
                    opt = STRATEGIES[r].optimizer
                    if opt and opt not in config["finetune"]:
                        raise ConfigError(f"studies.{study.name}.arms: retrain {r} needs finetune.{opt}; "
                                          f"allowed optimisers: sgd, adam")
        for study in self.studies.values():
            self._check_controls(study)
        if "frankle_bau" in self.studies:
            fb = self.studies["frankle_bau"].arms
            if len(fb) != 1 or len(fb[0].retrain) != 1:
                raise ConfigError("studies.frankle_bau.arms must be exactly one arm with one retrain strategy "
                                  "(the figures fb_fig1-4 draw one pruning chain per seed)")
        self._check_unit_layers()
        extracted = config["extract"]["layers"]
        checks = [("dissect.layers", config["dissect"]["layers"])]
        if any(s.mis for s in self.studies.values()):
            checks.append(("mis.layers", config["mis"]["layers"]))
        for key, layers in checks:
            for layer in layers:
                if layer not in extracted:
                    raise ConfigError(f"{key} contains {layer!r}, which is not extracted; "
                                      f"allowed (extract.layers): {', '.join(extracted)}")
        user = config.get("figures") or {}
        for name in user:
            if name not in ("formats", "dpi") and name not in FIGURES:
                raise ConfigError(f"figures.{name}: unknown figure; allowed: {', '.join(FIGURES)}")
        self.figure_settings = {name: self._settings(spec, user.get(name) or {}) for name, spec in FIGURES.items()}
        for name, spec in FIGURES.items():
            if self.figure_enabled(name):
                self._check_figure(spec, self.figure_settings[name])
        self.epoch_run = self._epoch_run()

    def _check_unit_layers(self) -> None:
        """Every layer the analyses name is a unit layer of every model they run on: a typo would
        otherwise fail each extraction job, after all the training."""
        c = self.config
        wanted = {"extract.layers": (c["extract"]["layers"], lambda s: s.dissect or s.mis),
                  "dissect.layers": (c["dissect"]["layers"], lambda s: s.dissect),
                  "mis.layers": (c["mis"]["layers"], lambda s: s.mis),
                  "similarity.layers": (c["similarity"]["layers"], lambda s: s.similarity)}
        for key, (layers, uses) in wanted.items():
            for study in self.studies.values():
                if not uses(study):
                    continue
                arch = c["models"][study.model]["arch"]
                units = UNIT_LAYERS.get(arch, ())
                for layer in layers:
                    if layer not in units:
                        raise ConfigError(f"{key} contains {layer!r}, not a unit layer of model {study.model} "
                                          f"(arch {arch}, studies.{study.name}); allowed: {', '.join(units)}")

    # ---- figures ---------------------------------------------------------------------------

    def _settings(self, spec: Figure, user: dict[str, Any]) -> dict[str, Any]:
        settings = {"title": "", **spec.settings, **user}
        if spec.requires == "similarity":
            # the figure says how conv layers were turned into samples (and is redrawn if that changes)
            settings["conv"] = self.config["similarity"]["conv"]
        return settings

    def figure_enabled(self, name: str) -> bool:
        """A figure is drawn when its study is configured and computes what the figure requires."""
        spec = FIGURES[name]
        study = self.studies.get(spec.study)
        return study is not None and (spec.requires is None or bool(getattr(study, spec.requires)))

    def _needed_arms(self, spec: Figure, settings: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(m.format(**settings), s, r.format(**settings)) for m, s, r in spec.needs]

    def _check_figure(self, spec: Figure, settings: dict[str, Any]) -> None:
        study = self.studies[spec.study]
        for method, schedule, retrain in self._needed_arms(spec, settings):
            if not study.has(method, schedule, retrain):
                raise ConfigError(f"figures.{spec.name} needs an arm of studies.{study.name} with method {method}, "
                                  f"schedule {schedule} and retrain {retrain}; add it, set figures.{spec.name}.method, "
                                  f"or remove the study")
            if "level" in settings:
                levels = study.arm(method, schedule).levels
                if not 1 <= settings["level"] <= levels:
                    raise ConfigError(f"figures.{spec.name}.level = {settings['level']}; allowed: 1..{levels} "
                                      f"(the levels of studies.{study.name}'s {method}/{schedule} arm)")
        if "seed" in settings and settings["seed"] not in study.seeds:
            raise ConfigError(f"figures.{spec.name}.seed = {settings['seed']}; allowed: {list(study.seeds)} "
                              f"(studies.{study.name}.seeds)")
        if spec.epochs:
            method, schedule, retrain = self._needed_arms(spec, settings)[0]
            if not STRATEGIES[retrain].trains:
                trains = [r for r in study.arm(method, schedule).retrain if STRATEGIES[r].trains]
                raise ConfigError(f"figures.{spec.name}.retrain = {retrain!r}; allowed: the retrain strategies of "
                                  f"studies.{study.name}'s {method}/{schedule} arm that train ({', '.join(trains)})")

    def _epoch_run(self) -> EpochRun | None:
        """The run followed epoch by epoch: the most pruned level of the figure's arm, first seed."""
        for name, spec in FIGURES.items():
            if spec.epochs and self.figure_enabled(name):
                study = self.studies[spec.study]
                method, schedule, retrain = self._needed_arms(spec, self.figure_settings[name])[0]
                arm = study.arm(method, schedule)
                run = Run(study.name, study.model, study.seeds[0], method, schedule, retrain, arm.levels)
                strategy = STRATEGIES[retrain]
                epochs = self.config["finetune"]["epochs"] if strategy.optimizer else self.config["train"]["epochs"]
                return EpochRun(run, epochs)
        return None

    def figure_files(self, name: str) -> list[str]:
        exts = (["csv"] if FIGURES[name].table else []) + list(self.config["figures"]["formats"])
        return [paths.figure_file(name, ext) for ext in exts]

    def figure_inputs(self, name: str) -> dict[str, str]:
        spec = FIGURES[name]
        tables = list(spec.tables) + [t for t in spec.optional if self._makes_optional(spec.study, t)]
        return {t: paths.study_table(spec.study, t) for t in tables}

    def _makes_optional(self, study: str, table: str) -> bool:
        if table == "baseline":
            return bool(self.config["dissect"]["random_baseline"])
        if table == "similarity_controls":
            return bool(self.similarity_controls(study))
        return True

    def targets(self) -> list[str]:
        """Every file of a complete run: the figures of the configured studies and the validation."""
        out = [f for name in FIGURES if self.figure_enabled(name) for f in self.figure_files(name)]
        if self.config["dissect"]["ground_truth"]["labels"]:
            out.append(paths.GROUND_TRUTH)
        return out + self.summary_files() + self.gallery_files() + [paths.PROVENANCE]

    # ---- unit galleries ------------------------------------------------------------------

    def galleries(self) -> dict[str, list[Run]]:
        """Gallery directory -> the runs (levels) of its chain: one per seed and arm chain of every
        study that dissects, when ``gallery.enabled``."""
        if not self.config["gallery"]["enabled"]:
            return {}
        out: dict[str, list[Run]] = {}
        for name, study in self.studies.items():
            if not study.dissect:
                continue
            for run in self.runs(name):
                out.setdefault(paths.gallery_dir(name, run.seed, run.method, run.schedule, run.retrain), []).append(run)
        return out

    def gallery_files(self) -> list[str]:
        return [f"{d}/{paths.GALLERY_INDEX}" for d in self.galleries()]

    def gallery_inputs(self, gallery: str) -> dict[str, Any]:
        runs = self.galleries()[gallery]
        return {"accuracy": paths.study_table(runs[0].study, "accuracy"), "probe": self.data.probe,
                "activations": [r.file(paths.ACTIVATIONS) for r in runs],
                "dissections": [r.file(paths.DISSECTION) for r in runs]}

    def gallery_params(self, gallery: str) -> dict[str, Any]:
        runs = self.galleries()[gallery]
        return {"levels": [r.level for r in runs], "seed": runs[0].seed, "layer": self.config["dissect"]["layers"][0],
                "chain": {"method": runs[0].method, "schedule": runs[0].schedule, "retrain": runs[0].retrain},
                "upsample": self.config["dissect"]["upsample"],
                "gallery": canonical({k: v for k, v in self.config["gallery"].items() if k != "enabled"}),
                "mis": self.section_params("mis")}

    SAMPLING = ("layers", "n_images", "conv", "max_samples", "seed")  # similarity settings of the extraction

    def similarity_sampling_params(self) -> dict[str, Any]:
        """What decides a similarity samples file: which layers, images and (image, position) rows."""
        return canonical({k: self.config["similarity"][k] for k in self.SAMPLING})

    def similarity_params(self) -> dict[str, Any]:
        """What the comparison of two samples files uses (changing it re-extracts nothing)."""
        return canonical({k: v for k, v in self.config["similarity"].items() if k not in self.SAMPLING or k == "layers"})

    def summary_inputs(self) -> list[str]:
        """The study tables the enabled figures read: those the verdict page is computed from."""
        return sorted({f for name in FIGURES if self.figure_enabled(name)
                       for f in self.figure_inputs(name).values()})

    def summary_files(self) -> list[str]:
        return [paths.SUMMARY_MD, paths.SUMMARY_HTML] if self.summary_inputs() else []

    # ---- the runs -------------------------------------------------------------------------

    def runs(self, study: str) -> list[Run]:
        return self.studies[study].runs()

    def run_files(self, study: str, name: str) -> list[str]:
        return [r.file(name) for r in self.runs(study)]

    def retrain_inputs(self, run: Run) -> dict[str, str]:
        inputs = {"train": self.data.train, "val": self.data.val, "pruned": run.pruned}
        if STRATEGIES[run.retrain].needs_rewind:
            inputs["rewind"] = f"{paths.dense_dir(run.model, run.seed)}/{paths.REWIND}"
        return inputs

    def prune_input(self, run: Run) -> str:
        """Level k of an iterative schedule prunes level k-1's retrained network; a one-shot schedule
        prunes the dense network."""
        if run.schedule == "iterative":
            return run.previous.file(paths.CHECKPOINT)
        return f"{paths.dense_dir(run.model, run.seed)}/{paths.CHECKPOINT}"

    def checkpoint_of(self, run_dir: str) -> str:
        """The checkpoint of a results directory; a reference network's (``random_init``: the
        initial weights of its dense run)."""
        loc = paths.parse(run_dir)
        if loc.network == paths.RANDOM_INIT:
            return f"{loc.dense}/{paths.INIT}"
        if loc.network is not None and loc.network not in _trained_strategies():
            raise ValueError(f"{run_dir}: unknown reference network {loc.network!r}; known: {paths.RANDOM_INIT}, "
                             f"{', '.join(_trained_strategies())} (the dense model retrained without pruning)")
        return f"{run_dir}/{paths.CHECKPOINT}"

    def similarity_reference(self, run_dir: str) -> str:
        """The network a run is compared with: the dense model of its seed; for a per-epoch
        checkpoint, the same run before retraining (epoch 0)."""
        loc = paths.parse(run_dir)
        if loc.epoch is not None:
            return f"{paths.epoch_dir(run_dir.rsplit('/epochs/', 1)[0], 0)}/{paths.SIMILARITY_SAMPLES}"
        return f"{loc.dense}/{paths.SIMILARITY_SAMPLES}"

    # ---- controls (similarity between networks nobody pruned) -----------------------------

    def _check_controls(self, study: Study) -> None:
        key = f"studies.{study.name}.similarity_controls"
        for r in study.similarity_controls["retrain"]:
            if r not in _trained_strategies():
                raise ConfigError(f"{key}.retrain contains {r!r}; allowed: {', '.join(_trained_strategies())} "
                                  f"(strategies that train)")
            opt = STRATEGIES[r].optimizer
            if opt and opt not in self.config["finetune"]:
                raise ConfigError(f"{key}.retrain: {r} needs finetune.{opt}")

    def control_seeds(self, study: str) -> list[int]:
        """The dense models a study's seeds are compared with: ``similarity_controls.seeds``, or by
        default every other seed of the same model in the enabled studies (trained anyway)."""
        s = self.studies[study]
        seeds = s.similarity_controls["seeds"]
        if seeds is None:
            seeds = sorted({seed for other in self.studies.values() if other.model == s.model for seed in other.seeds})
        return list(seeds)

    def similarity_controls(self, study: str) -> list[Control]:
        """Every control of a study with ``similarity: true``: each of its seeds against the dense
        models of the control seeds (not itself), and its dense model retrained without pruning by
        each of ``similarity_controls.retrain``; none for a study that is not enabled."""
        s = self.studies.get(study)
        if s is None or not s.similarity:
            return []
        retrain = s.similarity_controls["retrain"]
        out = []
        for seed in s.seeds:
            out += [Control(study, s.model, seed, "between_seeds", other, "none")
                    for other in self.control_seeds(study) if other != seed]
            out += [Control(study, s.model, seed, "dense_retrained", seed, r) for r in retrain]
        return out

    @staticmethod
    def trained_strategies() -> list[str]:
        return _trained_strategies()

    def dense_retrain_inputs(self, model: str, seed: int, retrain: str) -> dict[str, str]:
        """A dense model retrained without pruning starts from the dense checkpoint (no masks)."""
        dense = paths.dense_dir(model, seed)
        inputs = {"train": self.data.train, "val": self.data.val, "pruned": f"{dense}/{paths.CHECKPOINT}"}
        if STRATEGIES[retrain].needs_rewind:
            inputs["rewind"] = f"{dense}/{paths.REWIND}"
        return inputs

    # ---- rule params: only what each output depends on ------------------------------------

    def model_params(self, model: str) -> dict[str, Any]:
        m = self.config["models"][model]
        return canonical({"arch": m["arch"], "kwargs": m.get("kwargs", {})})

    def train_params(self) -> dict[str, Any]:
        """The dense training settings (rewind_iteration is the dense rule's own param; threads and
        DataLoader workers do not change results)."""
        return canonical({k: v for k, v in self.config["train"].items()
                          if k not in ("rewind_iteration", "threads", "workers")})

    def prune_params(self, study: str, method: str, schedule: str, level: int) -> dict[str, Any]:
        """What the mask of this level depends on: method, fraction and the study's prunable layers."""
        arm = self.studies[study].arm(method, schedule)
        if not 1 <= level <= arm.levels:
            raise ConfigError(f"level {level} outside 1..{arm.levels} of studies.{study} arm {method}/{schedule}")
        return canonical({"method": arm.method, "fraction": arm.fraction_at(level), "level": level,
                          **self.config["studies"][study]["prune"]})

    def retrain_params(self, retrain: str) -> dict[str, Any]:
        """Only the settings this strategy uses, so e.g. a new fine-tuning lr reruns only fine-tuning."""
        strategy = STRATEGIES[retrain]
        finetune = self.config["finetune"]
        return canonical({
            "strategy": retrain,
            "train": self.train_params() if strategy.trains else {},
            "finetune": {k: v for k, v in finetune.items() if k in ("epochs", strategy.optimizer)}
            if strategy.optimizer else {},
        })

    def data_params(self) -> dict[str, Any]:
        keys = ("source", "seed", "n_train", "n_val", "n_probe", "shapes")
        return canonical({k: v for k, v in self.config["data"].items() if k in keys})

    def dissect_params(self) -> dict[str, Any]:
        d = self.config["dissect"]
        return canonical({k: d[k] for k in ("layers", "quantile", "iou_threshold", "budget", "bootstrap", "upsample")})

    def ground_truth_params(self) -> dict[str, Any]:
        return canonical(self.config["dissect"]["ground_truth"])

    def section_params(self, section: str) -> dict[str, Any]:
        """A whole config section (mis, similarity, ...), key-sorted."""
        return canonical(dict(self.config[section]))

    def prunable_params(self, study: str) -> dict[str, Any]:
        return canonical(self.config["studies"][study]["prune"])

    def figure_params(self, name: str) -> dict[str, Any]:
        return canonical(self.figure_settings[name])

    def ident_params(self, study: str) -> list[dict[str, Any]]:
        return [r.ident() for r in self.runs(study)]

    def studies_with(self, flag: str) -> list[str]:
        return [name for name, s in self.studies.items() if getattr(s, flag)]


def _trained_strategies() -> list[str]:
    return [name for name, strategy in STRATEGIES.items() if strategy.trains]


def _safe_name(name: str) -> bool:
    return re.fullmatch(paths.NAME, name) is not None
