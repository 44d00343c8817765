"""The study/arm model, the results layout and the config checks (pruneinterp.studies, .paths),
without running Snakemake: the config is the default one with config/test.yaml merged over it, as
`snakemake --configfile config/test.yaml` sees it."""

import copy
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from pruneinterp.settings import merge_config
from pruneinterp import paths
from pruneinterp.retraining import STRATEGIES
from pruneinterp.studies import ConfigError, Plan, Run

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")



def config(edit=None):
    cfg = merge_config(yaml.safe_load((REPO / "config/config.yaml").read_text()),
                 yaml.safe_load((REPO / "config/test.yaml").read_text()))
    if edit:
        edit(cfg)
    validate(cfg, SCHEMA, set_default=True)
    return cfg


@pytest.fixture(scope="module")
def plan():
    return Plan(config())


def test_paths_round_trip():
    ident = dict(study="blakeney", model="resnet-w4", seed=3, method="magnitude_layerwise", schedule="oneshot",
                 retrain="reinit", level=2)
    d = paths.run_dir(**ident)
    assert d == "results/blakeney/resnet-w4/seed3/magnitude_layerwise/oneshot/reinit/level2"
    loc = paths.parse(d)
    assert (loc.study, loc.model, loc.seed, loc.method, loc.schedule, loc.retrain, loc.level) == tuple(ident.values())
    assert loc.epoch is None and loc.network is None and loc.dense == "results/dense/resnet-w4/seed3"
    assert paths.parse(paths.epoch_dir(d, 4)).epoch == 4 and paths.parse(paths.epoch_dir(d, 4)).retrain == "reinit"
    assert paths.run_dir(**{**ident, "level": 0}) == paths.dense_dir("resnet-w4", 3)
    dense = paths.parse(paths.dense_dir("resnet-w4", 3))
    assert (dense.study, dense.model, dense.seed, dense.network) == ("dense", "resnet-w4", 3, None)
    assert paths.parse(paths.baseline_dir("resnet-w4", 3)).network == paths.RANDOM_INIT
    one = paths.parse(paths.oneshot_dir("blakeney", "resnet-w4", 3, "magnitude_layerwise", 2))
    assert (one.schedule, one.retrain, one.level) == ("oneshot", None, 2)
    for bad in ("results/figures/fb_fig1.png", "results/blakeney/tables", "elsewhere/dense/m/seed0",
                "results/s/m/seed0/magnitude_global/iterative/level1"):  # iterative runs have a retrain
        with pytest.raises(ValueError, match="not a results directory"):
            paths.parse(bad)
    # patterns come from the same functions
    assert paths.run_dir("{study}", "{model}", "{seed}", "{method}", "{schedule}", "{retrain}", "{level}") == \
        "results/{study}/{model}/seed{seed}/{method}/{schedule}/{retrain}/level{level}"
    assert paths.log(d, "retrain") == "logs/" + d.removeprefix("results/") + "/retrain.log"


def test_run_expansion_counts_every_arm_strategy_seed_and_level(plan):
    raw = config()["studies"]
    for name, study in plan.studies.items():
        expected = sum(len(a["retrain"]) * len(raw[name]["seeds"]) *
                       ((len(a["targets"]) if a["schedule"] == "oneshot" else a["levels"]) + 1)
                       for a in raw[name]["arms"])
        runs = plan.runs(name)
        assert len(runs) == len(set(runs)) == expected
        assert all(r.dir == paths.dense_dir(r.model, r.seed) for r in runs if r.level == 0)
        assert len({r.dir for r in runs if r.level > 0}) == len([r for r in runs if r.level > 0])
        assert plan.ident_params(name)[0] == runs[0].ident() and set(runs[0].ident()) == {
            "study", "model", "seed", "method", "schedule", "retrain", "level"}


def test_pruned_networks_and_what_each_level_reads(plan):
    a = Run("von_rad_seuffert", "resnet-w4", 0, "magnitude_global", "oneshot", "none", 2)
    b = Run("von_rad_seuffert", "resnet-w4", 0, "magnitude_global", "oneshot", "finetune_sgd", 2)
    assert a.pruned == b.pruned == "results/von_rad_seuffert/resnet-w4/seed0/magnitude_global/oneshot/level2/pruned.pt"
    assert plan.prune_input(a) == "results/dense/resnet-w4/seed0/checkpoint.pt"
    it = Run("frankle_bau", "resnet-w4", 1, "magnitude_global", "iterative", "rewind", 2)
    assert it.pruned == f"{it.dir}/pruned.pt"
    assert plan.prune_input(it) == f"{it.previous.dir}/checkpoint.pt" and it.previous.level == 1
    assert plan.prune_input(it.previous) == "results/dense/resnet-w4/seed1/checkpoint.pt"
    assert plan.retrain_inputs(it)["rewind"] == "results/dense/resnet-w4/seed1/rewind.pt"
    assert "rewind" not in plan.retrain_inputs(b)
    assert plan.prune_params("von_rad_seuffert", "magnitude_global", "oneshot", 2)["fraction"] == 0.8
    assert plan.prune_params("frankle_bau", "magnitude_global", "iterative", 2)["fraction"] == 0.2
    with pytest.raises(ConfigError, match="level 3 outside 1..2"):
        plan.prune_params("frankle_bau", "magnitude_global", "iterative", 3)


def test_rule_params_hold_only_what_the_output_depends_on(plan):
    sgd = plan.retrain_params("finetune_sgd")
    assert set(sgd["finetune"]) == {"epochs", "sgd"} and sgd["train"] == plan.train_params()
    assert plan.retrain_params("none") == {"finetune": {}, "strategy": "none", "train": {}}
    assert plan.retrain_params("rewind")["finetune"] == {}
    assert "rewind_iteration" not in plan.train_params() and "threads" not in plan.train_params()
    # DataLoader workers change how batches are read, not what they hold: a new value reruns nothing
    assert "workers" not in plan.train_params() and {"augment", "compile"} <= set(plan.train_params())
    assert list(plan.dissect_params()) == sorted(plan.dissect_params())  # key-sorted


def test_figure_settings_are_derived_without_editing_the_config():
    cfg = config()
    before = copy.deepcopy(cfg)
    plan = Plan(cfg)
    assert cfg == before
    assert plan.figure_settings["bl_fig2"]["conv"] == cfg["similarity"]["conv"]
    assert plan.figure_settings["vrs_fig6"] == {**cfg["figures"]["vrs_fig6"], "retrain": "finetune_sgd", "level": 1}
    assert plan.figure_settings["vrs_fig4"] == {"title": cfg["figures"]["vrs_fig4"]["title"],
                                                "method": "magnitude_global", "x": "sparsity"}  # the spec's default
    bare = Plan(config(lambda c: c["figures"].pop("vrs_fig6")))
    assert bare.figure_settings["vrs_fig6"] == {"title": "", "method": "magnitude_global", "retrain": "finetune_sgd",
                                                "level": 1}
    assert plan.figure_settings["fb_fig2"]["title"] == "Interpretability"
    assert plan.figure_files("bl_table1") == ["results/figures/bl_table1.csv", "results/figures/bl_table1.png"]
    assert plan.figure_inputs("fb_fig2") == {t: f"results/frankle_bau/tables/{f}" for t, f in (
        ("summary", "dissection_summary.csv"), ("bootstrap", "dissection_bootstrap.csv"),
        ("sparsity", "sparsity.csv"), ("baseline", "dissection_baseline.csv"))}
    er = plan.epoch_run
    assert (er.run.study, er.run.seed, er.run.level, er.run.retrain, er.epochs) == (
        "blakeney", 0, 2, "finetune_sgd", cfg["finetune"]["epochs"])
    epoch = paths.epoch_dir(er.run.dir, 2)
    assert plan.similarity_reference(epoch) == f"{paths.epoch_dir(er.run.dir, 0)}/similarity_samples.h5"
    assert plan.similarity_reference(er.run.dir) == "results/dense/resnet-w4/seed0/similarity_samples.h5"
    assert plan.checkpoint_of(paths.baseline_dir("resnet-w4", 0)) == "results/dense/resnet-w4/seed0/init.pt"
    assert paths.GROUND_TRUTH in plan.targets() and "results/figures/vrs_fig5.png" in plan.targets()


def _vrs_arms(c):
    return c["studies"]["von_rad_seuffert"]["arms"]


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["studies"]["blakeney"]["arms"][0].__setitem__("retrain", ["retune"]),
     "studies.blakeney.arms[0].retrain contains 'retune'; allowed: " + ", ".join(STRATEGIES)),
    (lambda c: _vrs_arms(c).append(dict(_vrs_arms(c)[0])), "studies.von_rad_seuffert.arms[4]: a second arm"),
    (lambda c: c["studies"]["blakeney"]["arms"][0].pop("targets"), "studies.blakeney.arms[0].targets"),
    (lambda c: c["studies"]["blakeney"]["arms"][0].__setitem__("targets", [0.6, 0.3]), "strictly increasing"),
    (lambda c: c["studies"]["blakeney"]["arms"][1].pop("levels"), "studies.blakeney.arms[1].levels is required"),
    (lambda c: c["studies"]["frankle_bau"].__setitem__("model", "nope"),
     "studies.frankle_bau.model = 'nope'; allowed: resnet, resnet-w4"),
    (lambda c: c["mis"].__setitem__("layers", ["layer1"]), "mis.layers contains 'layer1', which is not extracted"),
    (lambda c: c["mis"].__setitem__("layers", ["conv1"]), "mis.layers contains 'conv1', not a unit layer of model "
                                                         "resnet-w4 (arch resnet, studies.frankle_bau); allowed: "
                                                         "layer1, layer2, layer3, layer4, fc"),
    (lambda c: c["extract"].__setitem__("layers", ["layer4", "layr3"]), "extract.layers contains 'layr3'"),
    (lambda c: c["similarity"].__setitem__("layers", ["conv2"]), "similarity.layers contains 'conv2'"),
    (lambda c: c["models"]["resnet-w4"]["kwargs"].__setitem__("width", 8),
     "models.resnet-w4.kwargs.width: not an argument of arch resnet; allowed: widths, strides, blocks, in_channels"),
    (lambda c: c["studies"].__setitem__("franke_bau", c["studies"]["frankle_bau"]),
     "studies.franke_bau: unknown study (it would make no jobs); allowed: blakeney, frankle_bau, von_rad_seuffert"),
    (lambda c: c["models"].__setitem__("../x", {"arch": "resnet", "kwargs": {}}),
     "models.../x: a model id is used in paths; allowed: letters, digits, _ and -"),
    (lambda c: c["data"].update(source="imagefolder", train_dir="/no/such/train", val_dir="/tmp", probe_dir="/tmp"),
     "data.train_dir = '/no/such/train': no such directory"),
    (lambda c: _vrs_arms(c).pop(0), "figures.vrs_fig1 needs an arm of studies.von_rad_seuffert with method "
                                     "magnitude_global, schedule oneshot and retrain none"),
    (lambda c: c["figures"]["fb_fig3"].__setitem__("seed", 7), "figures.fb_fig3.seed = 7; allowed: [0, 1]"),
    (lambda c: c["figures"].__setitem__("vrs_fig6", {"level": 3}), "figures.vrs_fig6.level = 3; allowed: 1..2"),
    (lambda c: c["figures"].__setitem__("bl_fig3", {"retrain": "none"}), "figures.bl_fig3 needs an arm"),
    (lambda c: c["figures"].__setitem__("fb_fig9", {}), "figures.fb_fig9: unknown figure; allowed: fb_fig1"),
    (lambda c: c["studies"]["frankle_bau"]["arms"][0].__setitem__("retrain", ["rewind", "reinit"]),
     "studies.frankle_bau.arms must be exactly one arm with one retrain strategy"),
])
def test_checks_name_the_key_and_what_is_allowed(edit, message):
    with pytest.raises(ConfigError) as err:
        Plan(config(edit))
    assert message in str(err.value) and str(err.value).startswith("config error: ")


def test_epoch_figure_needs_a_strategy_that_trains():
    def edit(c):
        c["studies"]["blakeney"]["arms"][0]["retrain"].append("none")
        c["figures"]["bl_fig3"] = {"retrain": "none"}

    with pytest.raises(ConfigError, match=r"figures.bl_fig3.retrain = 'none'; allowed: .*that train "
                                          r"\(finetune_sgd, reinit, random_reinit\)"):
        Plan(config(edit))


def test_disabled_study_and_flags_switch_figures_off():
    plan = Plan(config(lambda c: c["studies"]["blakeney"].__setitem__("enabled", False)))
    assert "blakeney" not in plan.studies and plan.epoch_run is None
    assert not any(plan.figure_enabled(f) for f in ("bl_table1", "bl_fig2", "bl_fig3"))
    plan = Plan(config(lambda c: c["studies"]["blakeney"].__setitem__("similarity", False)))
    assert plan.figure_enabled("bl_table1") and not plan.figure_enabled("bl_fig2") and plan.epoch_run is None


def test_planning_imports_neither_torch_nor_matplotlib():
    """common.smk imports the planning code in every job: it must stay cheap."""
    code = ("import sys; import pruneinterp.studies, pruneinterp.paths, pruneinterp.figures.spec; "
            "heavy = [m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tables_and_figures_do_not_import_torch():
    """Table and figure jobs read CSVs: they must not pay for torch and the training code."""
    code = ("import sys; import pruneinterp.tables, pruneinterp.figures.frankle_bau, pruneinterp.figures.blakeney, "
            "pruneinterp.figures.von_rad_seuffert, pruneinterp.figures.comparisons; "
            "assert 'torch' not in sys.modules and 'pruneinterp.stages' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_figure_has_its_function_and_caption():
    import importlib

    from pruneinterp.figures.spec import FIGURES

    for name, spec in FIGURES.items():
        module = importlib.import_module(f"pruneinterp.figures.{spec.module}")
        assert callable(getattr(module, name)), name
        assert (REPO / f"workflow/report/{name}.rst").is_file(), name
        assert set(spec.tables) | set(spec.optional) <= set(paths.STUDY_TABLES), name


def test_augmentation_recipes_and_shift_flip_exclude_each_other():
    def both(cfg):
        cfg["train"].update(augment="cifar", flip=True)

    with pytest.raises(ConfigError, match=r"train.augment = 'cifar' brings its own crops and flips; train.shift "
                                          r"and train.flip apply only with train.augment none"):
        Plan(config(both))
    Plan(config(lambda cfg: cfg["train"].update(augment="imagenet", workers=2)))
    Plan(config(lambda cfg: cfg["train"].update(shift=4, flip=True)))


def test_stage_defaults_are_the_schema_defaults():
    """Defaults are written once (the stage dataclasses); the schema's must agree with them."""
    from pruneinterp.activations import ExtractConfig
    from pruneinterp.data.shapes import DataConfig
    from pruneinterp.dissection import DissectConfig, GroundTruthConfig
    from pruneinterp.mis import MISConfig
    from pruneinterp.retraining import FinetuneConfig
    from pruneinterp.settings import defaults
    from pruneinterp.similarity import SimilarityConfig
    from pruneinterp.training import TrainConfig

    cfg = {"models": {"m": {"arch": "convnet"}}, "studies": {}}
    validate(cfg, SCHEMA, set_default=True)
    pairs = [(cfg["train"], TrainConfig), (cfg["finetune"], FinetuneConfig), (cfg["dissect"], DissectConfig),
             (cfg["dissect"]["ground_truth"], GroundTruthConfig), (cfg["similarity"], SimilarityConfig),
             (cfg["mis"], MISConfig), (cfg["data"], DataConfig), (cfg["extract"], ExtractConfig)]
    # deliberate: the similarity stage alone computes SVCCA; the workflow adds PWCCA and CKA (bl_metrics)
    workflow_only = {(SimilarityConfig, "methods")}
    for section, cls in pairs:
        ours = defaults(cls)
        common = {k for k in set(section) & set(ours) if (cls, k) not in workflow_only}
        assert common, cls
        for key in common:
            value = ours[key]
            assert section[key] == (list(value) if isinstance(value, tuple) else value), (cls.__name__, key)
    assert asdict(FinetuneConfig())["sgd"]["weight_decay"] == cfg["finetune"]["sgd"]["weight_decay"]


def test_cli_defaults_and_choices_come_from_the_dataclasses_and_registry():
    from pruneinterp.cli import build_parser
    from pruneinterp.retraining import FinetuneConfig

    parser = build_parser()
    args = parser.parse_args(["retrain", "--pruned", "p.pt", "--train", "t", "--val", "v", "--out-dir", "o"])
    assert args.finetune == asdict(FinetuneConfig()) and "weight_decay" in args.finetune["sgd"]
    sub = next(a for a in parser._actions if a.dest == "stage").choices["retrain"]
    strategy = next(a for a in sub._actions if a.dest == "strategy")
    assert list(strategy.choices) == list(STRATEGIES)


def test_similarity_controls_reuse_the_other_seeds_dense_models_and_retrain_the_dense_model(plan):
    """Blakeney's controls: seed 0's dense model vs the dense model of frankle_bau's other seed (same
    model id, trained anyway), and vs itself fine-tuned with no pruning."""
    controls = plan.similarity_controls("blakeney")
    assert [c.ident() for c in controls] == [
        {"study": "blakeney", "model": "resnet-w4", "seed": 0, "control": "between_seeds", "other_seed": 1,
         "retrain": "none"},
        {"study": "blakeney", "model": "resnet-w4", "seed": 0, "control": "dense_retrained", "other_seed": 0,
         "retrain": "finetune_sgd"}]
    seeds, ft = controls
    assert seeds.table == "results/dense/resnet-w4/seed0/similarity_seed1.csv"
    assert seeds.dir == "results/dense/resnet-w4/seed1"
    assert ft.dir == "results/dense/resnet-w4/seed0/finetune_sgd" and ft.table == f"{ft.dir}/similarity.csv"
    # the retrained dense model is extracted from its own checkpoint and compared with the dense model
    assert plan.checkpoint_of(ft.dir) == f"{ft.dir}/checkpoint.pt"
    assert plan.similarity_reference(ft.dir) == "results/dense/resnet-w4/seed0/similarity_samples.h5"
    assert plan.dense_retrain_inputs("resnet-w4", 0, "finetune_sgd") == {
        "train": plan.data.train, "val": plan.data.val, "pruned": "results/dense/resnet-w4/seed0/checkpoint.pt"}
    assert plan.dense_retrain_inputs("resnet-w4", 0, "rewind")["rewind"] == "results/dense/resnet-w4/seed0/rewind.pt"
    assert plan.control_seeds("blakeney") == [0, 1]
    assert plan.similarity_controls("von_rad_seuffert") == []  # no similarity there
    for fig in ("bl_fig2", "bl_fig4", "bl_fig5", "bl_metrics"):
        assert plan.figure_inputs(fig)["similarity_controls"] == "results/blakeney/tables/similarity_controls.csv"
    assert "similarity_controls" not in plan.figure_inputs("bl_fig3")
    with pytest.raises(ValueError, match="unknown reference network 'bogus'"):
        plan.checkpoint_of("results/dense/resnet-w4/seed0/bogus")


def test_similarity_controls_settings():
    def controls(seeds, retrain):
        return lambda c: c["studies"]["blakeney"].__setitem__("similarity_controls", {"seeds": seeds, "retrain": retrain})

    plan = Plan(config(controls([0, 3, 4], ["finetune_sgd", "finetune_adam"])))
    got = [(c.control, c.other_seed, c.retrain) for c in plan.similarity_controls("blakeney")]
    assert got == [("between_seeds", 3, "none"), ("between_seeds", 4, "none"),
                   ("dense_retrained", 0, "finetune_sgd"), ("dense_retrained", 0, "finetune_adam")]
    disabled = Plan(config(lambda c: c["studies"]["blakeney"].__setitem__("enabled", False)))
    assert disabled.similarity_controls("blakeney") == [] and "similarity_controls" not in disabled.figure_inputs(
        "bl_fig2")  # figure rules are made for every figure, drawn or not
    off = Plan(config(controls([], [])))
    assert off.similarity_controls("blakeney") == []
    assert "similarity_controls" not in off.figure_inputs("bl_fig2")
    two_seeds = Plan(config(lambda c: c["studies"]["blakeney"].__setitem__("seeds", [0, 1])))
    assert [(c.seed, c.other_seed) for c in two_seeds.similarity_controls("blakeney")
            if c.control == "between_seeds"] == [(0, 1), (1, 0)]
    from pruneinterp.studies import CONTROL_DEFAULTS

    raw = config()["studies"]["blakeney"]
    assert raw["similarity_controls"] == CONTROL_DEFAULTS  # the schema's defaults are the code's
    with pytest.raises(ConfigError, match=r"studies.blakeney.similarity_controls.retrain contains 'none'; "
                                          r"allowed: rewind, finetune_sgd, finetune_adam, reinit, random_reinit"):
        Plan(config(controls(None, ["none"])))


def test_provenance_names_the_commit_the_machine_and_the_config(tmp_path):
    """The run records what produced it (commit, CPU, GPUs, versions, config), and nothing that
    changes between two identical runs."""
    import json

    from pruneinterp.workflow import provenance

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "provenance.json"
    cfg = config()
    info = provenance(str(out), str(repo), cfg)
    assert json.loads(out.read_text()) == json.loads(json.dumps(info, default=str))
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert info["commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert info["cpu"] and info["cores"] >= 1 and info["versions"]["torch"] and isinstance(info["gpus"], list)
    assert info["config"]["studies"]["frankle_bau"]["seeds"] == cfg["studies"]["frankle_bau"]["seeds"]
    flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":", 1)[1].split()
    assert info["cpu_isa"] == [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    import torch

    # oneDNN's bf16 kernels (what `precision: auto` asks for) need AVX-512 and come with its bf16 extensions
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert not native or "avx512f" in info["cpu_isa"]
    assert native or not {"avx512_bf16", "amx_bf16"} & set(info["cpu_isa"])
    first = out.read_bytes()
    provenance(str(out), str(repo), cfg)
    assert out.read_bytes() == first  # no timestamps: same commit, same machine, same bytes
    assert provenance(str(tmp_path / "x.json"), str(tmp_path))["commit"] is None  # not a git checkout


def test_merge_config_merges_mappings_key_by_key_and_replaces_everything_else():
    base = {"train": {"epochs": 3, "lr": 0.1}, "dissect": {"layers": ["layer4"]}, "device": "cpu"}
    merge_config(base, {"train": {"epochs": 90}, "dissect": {"layers": ["layer3"]}, "device": "cuda", "new": {"a": 1}})
    assert base == {"train": {"epochs": 90, "lr": 0.1}, "dissect": {"layers": ["layer3"]}, "device": "cuda",
                    "new": {"a": 1}}
