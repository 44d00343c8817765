"""Per-rule cluster resources (pruneinterp.resources): model sizes against torch, the formulas,
GPUs and CPUs as the SLURM plugin reads them, config errors, and the rules' wiring in a dry run."""

import copy
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from snakemake.utils import validate
from torch import nn

from pruneinterp.settings import merge_config
from pruneinterp import resources
from pruneinterp.models import MODELS, build_model
from pruneinterp.resources import EXTRACT, TRAINING, Resources, model_size
from pruneinterp.studies import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")



def config(*files, edit=None):
    """config/config.yaml merged with ``files`` (as --configfile does), validated with defaults."""
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for f in files:
        merge_config(cfg, yaml.safe_load((REPO / f).read_text()))
    if edit:
        edit(cfg)
    validate(cfg, SCHEMA, set_default=True)
    return cfg


def _torch_counts(arch, kwargs, size, classes):
    net = build_model(arch, num_classes=classes, **kwargs).eval()
    macs = acts = 0

    def hook(m, _i, out):
        nonlocal macs, acts
        per_output = m.in_channels // m.groups * math.prod(m.kernel_size) if isinstance(m, nn.Conv2d) else m.in_features
        macs += out.numel() * per_output
        acts += out.numel()

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    return sum(p.numel() for p in net.parameters()), macs, acts


@pytest.mark.parametrize("arch, kwargs, size, classes", [
    ("resnet", {}, 32, 10),
    ("resnet", {"widths": [4, 8, 8, 8], "strides": [1, 2, 2, 2], "blocks": [2, 1, 1, 1]}, 40, 7),
    ("convnet", {"widths": [8, 8, 16, 16]}, 32, 10),
    ("resnet18", {}, 64, 10),
    ("resnet34", {"small_input": True}, 32, 10),
    ("resnet50", {}, 97, 5),
    ("vgg16_bn", {}, 64, 1000),
    ("vgg16_bn", {"small_input": True}, 32, 10),
    ("googlenet", {}, 97, 7),  # odd sizes: the ceil-mode pools of GoogLeNet
])
def test_model_size_counts_what_torch_counts(arch, kwargs, size, classes):
    """Parameters, forward MACs and conv/linear output elements, layer by layer without torch, equal
    the counts of the real model (hooks on every conv and linear layer)."""
    got = model_size(arch, kwargs, size, classes)
    assert (got.params, got.macs, got.activations) == _torch_counts(arch, kwargs, size, classes)


def test_every_model_of_the_registry_has_a_size_formula():
    assert set(resources.ARCHITECTURES) == set(MODELS)
    with pytest.raises(ValueError, match="allowed: resnet"):
        model_size("alexnet", {}, 32, 10)


def test_resnet50_at_imagenet_size_is_the_known_one():
    s = model_size("resnet50", {}, 224, 1000)
    assert s.params == 25_557_032 and 4.0e9 < s.macs < 4.2e9  # torchvision: 25.6 M parameters, 4.1 GMACs


def test_shapes_class_count_is_the_generators():
    from pruneinterp.data.shapes import SHAPES

    assert resources.SHAPES_CLASSES == len(SHAPES)


def test_training_job_follows_the_documented_formula():
    cfg = config("config/paper/frankle-bau.yaml")
    res = Resources(cfg)
    size = model_size("resnet50", {}, 224, 1000)
    job = res.training("resnet50")
    n, v, epochs = 1_281_167, 50_000, cfg["train"]["epochs"]
    assert res.uses_gpu and res.gpus == 1 and res.processes == 1
    workers = cfg["train"]["workers"]
    assert workers == 8  # the paper config decodes ImageNet in 8 DataLoader workers
    seconds = (resources.STARTUP_S + epochs * (3 * n + v) * size.macs / 1e13
               + epochs * (n + v) * resources.DECODE_S / workers)  # ImageFolder: decoded by the workers
    assert job.runtime == math.ceil(2.0 * seconds / 60)
    batch = cfg["train"]["batch_size"]
    batch_bytes = batch * 3 * 224 * 224 * 4
    mb = (resources.BASE_MB + resources.CUDA_MB + 8 * 4 * size.params / 2**20
          + ((n + v) * resources.INDEX_BYTES + 3 * batch_bytes) / 2**20  # no activations: on the GPU
          + workers * (resources.WORKER_MB + resources.PREFETCH * batch_bytes / 2**20))
    assert job.mem_mb == math.ceil(2.0 * mb / 100) * 100
    assert job.torch_threads == cfg["train"]["threads"] == 8
    assert job.threads == job.torch_threads + workers  # --cpus-per-task: torch threads + one core per worker
    # paper scale is large (days of one GPU, GBs), the embedded default small
    assert job.runtime > 3 * 24 * 60 and job.mem_mb >= 8000
    small = Resources(config()).training("resnet")
    assert small.runtime == resources.MIN_RUNTIME and 1000 <= small.mem_mb <= 4000
    assert small.threads == 1 and small.gpus == 0


def test_estimates_grow_with_epochs_images_model_and_safety():
    def job(edit, strategy=None, kind="training"):
        res = Resources(config("config/paper/blakeney.yaml", edit=edit))
        return res.training("resnet34", strategy) if kind == "training" else res.extract("resnet34")

    base = job(None)
    assert job(lambda c: c["train"].__setitem__("epochs", 320)).runtime > base.runtime
    assert job(lambda c: c.setdefault("resources", {}).setdefault("images", {}).__setitem__("train", 100_000)).runtime \
        > base.runtime
    assert job(lambda c: c["models"]["resnet34"]["kwargs"].__setitem__("small_input", False)).runtime < base.runtime
    bigger = job(lambda c: c["models"].__setitem__("resnet34", {"arch": "vgg16_bn", "kwargs": {}}))
    assert bigger.mem_mb > base.mem_mb
    assert job(lambda c: c.setdefault("resources", {}).__setitem__("safety", 4.0)).mem_mb == pytest.approx(
        2 * base.mem_mb, abs=100)
    # retraining: the strategy's epochs (fine-tuning: finetune.epochs; none: one evaluation)
    finetune, none = job(None, "finetune_sgd"), job(None, "none")
    assert none.runtime < finetune.runtime < job(None, "rewind").runtime == base.runtime
    # more images to extract activations of take longer
    probe = lambda c: c.setdefault("resources", {}).setdefault("images", {}).__setitem__("probe", 10**6)  # noqa: E731
    assert job(probe, kind="extract").runtime > job(None, kind="extract").runtime


def test_cpus_are_workers_plus_torch_threads_per_process():
    """train.workers (the DataLoader's, added to the schema by the data pipeline) is read where present."""
    cfg = config()
    cfg["train"]["threads"] = 2
    cfg["train"]["workers"] = 3
    res = Resources(cfg)
    job = res.training("resnet")
    assert job.threads == res.threads(TRAINING) == 5 and job.torch_threads == 2
    assert res.rule(TRAINING)["torch_threads"] == 2
    assert res.threads(EXTRACT) == 1
    cfg["resources"]["processes"] = 2
    res2 = Resources(cfg)
    assert res2.threads(TRAINING) == 10 and res2.launch_params() == {"processes": 2}
    # each worker is a process with its prefetched batches: more memory; each process its own copy
    assert res.training("resnet").mem_mb > Resources(config()).training("resnet").mem_mb
    assert res2.training("resnet").mem_mb >= 2 * res.training("resnet").mem_mb - 100
    cfg["train"].pop("workers")
    assert Resources(cfg).threads(TRAINING) == 4  # 2 processes x 2 threads, no workers


def test_gpus_only_when_asked_for():
    cpu = Resources(config())
    for kind in (TRAINING, EXTRACT, resources.ANALYSIS):
        assert "gpu" not in cpu.rule(kind)
    assert cpu.launch_params() == {}
    gpu = Resources(config(edit=lambda c: c.update(device="cuda", resources={"gpus": 4})))
    assert gpu.rule(TRAINING)["gpu"] == 4 and gpu.processes == 4
    assert gpu.rule(EXTRACT)["gpu"] == 1 and gpu.rule(resources.ANALYSIS) == {"gpu": 1}
    assert gpu.launch_params() == {"processes": 4} and gpu.threads(TRAINING) == 4


def test_the_slurm_plugin_turns_the_resources_into_sbatch_options():
    """The installed snakemake-executor-plugin-slurm (requirements.lock) reads `gpu` as --gpus and the
    rule's threads as --cpus-per-task; with no `gpu` resource it asks for none."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Res(dict):
        def __getattr__(self, key):
            return self[key]

    def sbatch(res, rule_kind, wildcards):
        values = {k: (v(wildcards) if callable(v) else v) for k, v in res.rule(rule_kind).items()}
        job = SimpleNamespace(resources=Res(values), threads=res.threads(rule_kind))
        params = {"run_uuid": "u", "slurm_logfile": "l", "comment_str": "c", "account": "", "partition": "",
                  "workdir": None}
        return get_submit_command(job, params) + set_gres_string(job)

    w = SimpleNamespace(get={"model": "resnet"}.get)
    gpu = Resources(config(edit=lambda c: c.update(device="cuda", resources={"gpus": 2})))
    call = sbatch(gpu, TRAINING, w)
    job = gpu.training("resnet")
    assert "--gpus=2" in call and "--cpus-per-task=2" in call
    assert f"--mem {job.mem_mb}" in call and f"-t {job.runtime}" in call
    cpu = sbatch(Resources(config()), TRAINING, w)
    assert "--gpus" not in cpu and "--gres" not in cpu and "--cpus-per-task=1" in cpu
    run = SimpleNamespace(get={"run": "results/frankle_bau/resnet/seed0/magnitude_global/iterative/rewind/level3"}.get)
    assert "--gpus=1" in sbatch(gpu, EXTRACT, run)


@pytest.mark.parametrize("edit, key, allowed", [
    (lambda c: c.update(resources={"gpus": 2}), "resources.gpus = 2 with device cpu", "allowed with device cpu: 0"),
    (lambda c: c.update(device="cuda", resources={"gpus": 2, "processes": 3}), "resources.processes = 3",
     "allowed: 2 (one process per GPU) or null"),
])
def test_impossible_requests_are_config_errors_naming_the_key(edit, key, allowed):
    with pytest.raises(ConfigError) as err:
        Resources(config(edit=edit))
    assert key in str(err.value) and allowed in str(err.value)


def test_schema_rejects_a_bad_resource_value_naming_it():
    from pruneinterp.configcheck import check_config

    cfg = copy.deepcopy(config())
    cfg["resources"]["gpus"] = -1
    with pytest.raises(ConfigError, match=r"resources.gpus = -1; must be >= 0"):
        check_config(cfg, SCHEMA)


def test_job_threads_for_torch_come_from_the_torch_threads_resource():
    from pruneinterp.workflow import launch_options, torch_threads

    class Named(dict):
        pass

    smk = SimpleNamespace(threads=4, resources=Named(torch_threads=1), params=Named(processes=2))
    assert torch_threads(smk) == 1 and launch_options(smk) == {"processes": 2, "threads": 1}
    smk = SimpleNamespace(threads=2, resources=Named(torch_threads=8), params=Named())  # capped by --cores
    assert torch_threads(smk) == 2 and launch_options(smk) == {"processes": 1, "threads": 2}
    assert torch_threads(SimpleNamespace(threads=3, resources=Named())) == 3  # rules without it: their threads


def test_resources_import_neither_torch_nor_pandas():
    """common.smk imports it in every job."""
    code = ("import sys; import pruneinterp.resources; "
            "heavy = [m for m in ('torch', 'pandas', 'numpy') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dry_run_gives_each_rule_its_computed_resources(tmp_path):
    """The rules take threads, gpu, mem_mb and runtime from Resources (here 2 GPUs on device auto,
    never run: a dry run)."""
    from workflow_fixture import copy_workflow

    wd = copy_workflow(tmp_path / "wf")
    (wd / "config/gpus.yaml").write_text(yaml.safe_dump({"device": "auto", "resources": {"gpus": 2}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "8", "--configfile",
                           "config/test.yaml", "config/gpus.yaml"], cwd=wd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = Resources(config("config/test.yaml", edit=lambda c: c.update(device="auto", resources={"gpus": 2})))
    jobs = {}
    for block in re.split(r"^\[[^\]]+\]$", proc.stdout, flags=re.M):  # a job's lines follow its timestamp
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if m:
            jobs.setdefault(m.group(1), block)
    dense, extract = res.training("resnet-w4"), res.extract("resnet-w4")
    for rule in ("train_dense", "retrain", "prune_retrain", "retrain_dense", "retrain_epochs"):
        block = jobs[rule]
        assert re.search(r"threads: 2$", block, re.M), block
        assert f"mem_mb={dense.mem_mb}," in block and "gpu=2" in block and "torch_threads=1" in block, block
    for rule in ("extract_activations", "extract_similarity"):
        assert f"mem_mb={extract.mem_mb}," in jobs[rule] and "gpu=1" in jobs[rule], jobs[rule]
    for rule in ("dissect", "mis", "similarity", "similarity_between_seeds"):  # analyses on the config's device
        assert "gpu=1" in jobs[rule] and "mem_mb=4000," in jobs[rule], jobs[rule]
    for rule in ("prune_oneshot", "study_tables", "generate_data"):
        assert "gpu" not in jobs[rule], jobs[rule]
