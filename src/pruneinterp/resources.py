"""What each job asks of a cluster: GPUs, CPUs, memory and walltime, computed from the config.

The workflow's rules take their ``threads`` and ``resources`` from :class:`Resources` (built once
in ``workflow/rules/common.smk``); the SLURM profile turns them into ``sbatch`` options
(``--gpus``, ``--cpus-per-task``, ``--mem``, ``-t``). Everything here is a formula of the config,
so a dry run, a local run and every SLURM job see the same numbers: nothing is measured, and
nothing imports torch (this module runs in every job, like :mod:`pruneinterp.studies`).

**Model size** (:func:`model_size`): parameters, multiply-accumulates (MACs) of one forward pass of
one image and the elements of every convolution's and linear layer's output for one image
(``activations``), counted layer by layer for each architecture of :mod:`pruneinterp.models` at the
data's image size (``tests/test_resources.py`` checks the three counts against the torch models).

**Training jobs** (train_dense, prune_retrain, retrain, retrain_dense, retrain_epochs), per process::

    seconds  = STARTUP_S + epochs * (3 * n_train + n_val) * macs / rate
             + for images on disk (ImageFolder): epochs * (n_train + n_val) * DECODE_S / (processes * max(1, workers))
    MB       = BASE_MB (+ CUDA_MB on a GPU) + STATE_COPIES * 4 B * params
             + data (the in-memory uint8 splits, or an ImageFolder index and decoded batches)
             + on CPU: the activations kept for backward, max(batch / processes * ACT_TRAIN, eval_batch * ACT_EVAL)
               * activations * 4 B
             + workers * (WORKER_MB + PREFETCH * batch * image bytes as float32)
    runtime  = ceil(safety * seconds / 60) minutes (at least MIN_RUNTIME)
    mem_mb   = safety * processes * MB, rounded up to 100 (at least MIN_MEM_MB)

where a training step costs 3 forward passes (forward, and backward for inputs and weights),
``epochs`` is the strategy's (``train.epochs`` for dense training, rewinding and re-initialisation,
``finetune.epochs`` for fine-tuning, 0 for ``none``, which only evaluates), and ``rate`` is
``resources.cpu_macs * train.threads * processes`` on a CPU or ``resources.gpu_macs * processes`` on
GPUs. **Extraction** (extract_activations, extract_similarity) is one process: ``n_probe`` forward
passes (and decodes, for a Broden probe on disk), and its batch's images and activations
(``extract.batch_size``) in memory (on a GPU, the activations count once: the stored layers come
back to the host).

**Threads / CPUs.** A training job's ``threads`` (SLURM ``--cpus-per-task``) are
``processes * (train.threads + train.workers)``: each process's torch threads plus one core per
DataLoader worker; the job sets torch's thread count to ``train.threads`` (passed as the resource
``torch_threads``), not to the job's threads. Other jobs keep 1 thread.

**GPUs.** ``resources.gpus`` > 0: the training rules ask for that many (the plugin's ``gpu``
resource, i.e. ``sbatch --gpus=N``) and train in ``N`` processes under torchrun
(:mod:`pruneinterp.launch`); extraction and the analyses on the config's device (dissect, mis,
similarity), single-process, ask for one. With 0 no GPU resource is set at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .retraining import STRATEGIES

# ---- constants of the formulas (documented in the module docstring and the README) ---------------

STARTUP_S = 60.0  # a job's start: Python, torch, reading the data and the checkpoints
BASE_MB = 1000.0  # a job's process: Python, torch, numpy, pandas, h5py (small jobs peak at ~610 MiB here)
CUDA_MB = 1500.0  # the CUDA runtime's host memory in a process that uses a GPU
WORKER_MB = 500.0  # a DataLoader worker process (a fork of the training process)
PREFETCH = 2  # batches each DataLoader worker holds (torch's prefetch_factor)
STATE_COPIES = 8  # weights, gradients, 2 optimiser moments, masks, the init / rewind / pruned copies
ACT_TRAIN = 4  # per activation element in training: outputs kept for backward (conv, BN, ReLU) and a gradient
ACT_EVAL = 2  # per activation element in evaluation (no graph): a layer's input and output
INDEX_BYTES = 256  # an ImageFolder index row (path, target, class, size) in memory
DECODE_S = 0.002  # decoding and resizing one JPEG (ImageFolder, Broden) on one core
MIN_MEM_MB = 1000
MIN_RUNTIME = 5  # minutes

# image counts where the config does not give them (override: resources.images)
KNOWN_IMAGES = {
    "cifar10": {"train": 50_000, "val": 10_000},
    "cifar100": {"train": 50_000, "val": 10_000},
    "imagefolder": {"train": 1_281_167, "val": 50_000},  # ImageNet-1k (ILSVRC 2012)
}
BRODEN_IMAGES = 63_305  # broden1_224 / broden1_227: the probe of the non-generated data sources
SHAPES_CLASSES = 10  # pruneinterp.data.shapes.SHAPES
KNOWN_CLASSES = {"cifar10": 10, "cifar100": 100, "imagefolder": 1000}

TRAINING = "training"
EXTRACT = "extract"
ANALYSIS = "analysis"  # dissect, mis, similarity: on the config device, their own memory and runtime
KINDS = (TRAINING, EXTRACT, ANALYSIS)


# ---- model size ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """One network at one image size: parameters (weights, biases, BatchNorm affine), MACs of a
    forward pass of one image (convolutions and linear layers), and the elements of those layers'
    outputs for one image."""

    params: int
    macs: int
    activations: int


class _Counter:
    """Walks a network's layers in order, keeping the feature map's shape (channels, height, width)."""

    def __init__(self, channels: int, size: int) -> None:
        self.c, self.h, self.w = channels, size, size
        self.params = self.macs = self.activations = 0

    @staticmethod
    def _out(n: int, k: int, s: int, p: int, ceil: bool = False) -> int:
        if not ceil:
            return (n + 2 * p - k) // s + 1
        out = -(-(n + 2 * p - k) // s) + 1
        if (out - 1) * s >= n + p:  # torch: the last window must start inside the input or left padding
            out -= 1
        return out

    def conv(self, out: int, k: int = 3, s: int = 1, p: int | None = None, bias: bool = False,
             bn: bool = True) -> None:
        p = k // 2 if p is None else p
        self.h, self.w = self._out(self.h, k, s, p), self._out(self.w, k, s, p)
        self.params += out * self.c * k * k + (out if bias else 0) + (2 * out if bn else 0)
        self.macs += out * self.c * k * k * self.h * self.w
        self.activations += out * self.h * self.w
        self.c = out

    def pool(self, k: int, s: int, p: int = 0, ceil: bool = False) -> None:
        self.h, self.w = self._out(self.h, k, s, p, ceil), self._out(self.w, k, s, p, ceil)

    def linear(self, inputs: int, out: int) -> None:
        self.params += inputs * out + out
        self.macs += inputs * out
        self.activations += out

    def branch(self) -> "_Counter":
        """A copy at the current shape with zero counts (a parallel path: shortcut, inception branch)."""
        other = _Counter(self.c, 0)
        other.h, other.w = self.h, self.w
        return other

    def add(self, other: "_Counter") -> None:
        self.params += other.params
        self.macs += other.macs
        self.activations += other.activations

    def size(self) -> Size:
        return Size(self.params, self.macs, self.activations)


def _small_resnet(n: _Counter, classes: int, widths=(16, 32, 64, 64), strides=(1, 2, 2, 1), blocks=(1, 1, 1, 1),
                  in_channels: int = 3) -> None:
    n.c = in_channels
    n.conv(widths[0])
    n.pool(2, 2)
    for width, stride, count in zip(widths, strides, blocks):
        for j in range(count):
            _basic_block(n, width, stride if j == 0 else 1)
    n.linear(n.c, classes)


def _basic_block(n: _Counter, width: int, stride: int) -> None:
    if stride != 1 or n.c != width:
        short = n.branch()
        short.conv(width, 1, stride, 0)
        n.add(short)
    n.conv(width, 3, stride)
    n.conv(width, 3, 1)


def _bottleneck(n: _Counter, width: int, stride: int) -> None:
    if stride != 1 or n.c != 4 * width:
        short = n.branch()
        short.conv(4 * width, 1, stride, 0)
        n.add(short)
    n.conv(width, 1, 1, 0)
    n.conv(width, 3, stride)
    n.conv(4 * width, 1, 1, 0)


def _convnet(n: _Counter, classes: int, width: int = 32, in_channels: int = 3, widths=None) -> None:
    n.c = in_channels
    for i, w in enumerate(widths or (width, width, 2 * width, 2 * width)):
        n.conv(w)
        if i in (0, 1):
            n.pool(2, 2)
    n.linear(n.c, classes)


def _torchvision_resnet(blocks: tuple[int, ...], bottleneck: bool) -> Callable[..., None]:
    def walk(n: _Counter, classes: int, small_input: bool = False) -> None:
        if small_input:
            n.conv(64, 3, 1, 1)
        else:
            n.conv(64, 7, 2, 3)
            n.pool(3, 2, 1)
        for i, (width, count) in enumerate(zip((64, 128, 256, 512), blocks)):
            for j in range(count):
                (_bottleneck if bottleneck else _basic_block)(n, width, 2 if i > 0 and j == 0 else 1)
        n.linear(n.c, classes)

    return walk


def _vgg16_bn(n: _Counter, classes: int, small_input: bool = False) -> None:
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            n.pool(2, 2)
        else:
            n.conv(int(v), 3, 1, 1, bias=True)
    if small_input:
        n.linear(512, classes)
    else:
        n.linear(512 * 7 * 7, 4096)
        n.linear(4096, 4096)
        n.linear(4096, classes)


# torchvision's GoogLeNet: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per inception module,
# "M" a 3x3/2 max-pool (ceil mode), "M2" the 2x2/2 one before inception5a
_INCEPTION = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",
              (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
              (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "M2",
              (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128))


def _googlenet(n: _Counter, classes: int) -> None:
    n.conv(64, 7, 2, 3)
    n.pool(3, 2, 0, ceil=True)
    n.conv(64, 1, 1, 0)
    n.conv(192, 3, 1, 1)
    n.pool(3, 2, 0, ceil=True)
    for module in _INCEPTION:
        if module == "M":
            n.pool(3, 2, 0, ceil=True)
            continue
        if module == "M2":
            n.pool(2, 2, 0, ceil=True)
            continue
        c1, c3r, c3, c5r, c5, pp = module  # type: ignore[misc]
        out = 0
        for path in ((c1, 1),), ((c3r, 1), (c3, 3)), ((c5r, 1), (c5, 3)), ((pp, 1),):  # torchvision's 5x5 is 3x3
            b = n.branch()
            for channels, k in path:
                b.conv(channels, k, 1, k // 2)
            n.add(b)
            out += b.c
        n.c = out
    n.linear(n.c, classes)


ARCHITECTURES: dict[str, Callable[..., None]] = {
    "resnet": _small_resnet,
    "convnet": _convnet,
    "resnet18": _torchvision_resnet((2, 2, 2, 2), False),
    "resnet34": _torchvision_resnet((3, 4, 6, 3), False),
    "resnet50": _torchvision_resnet((3, 4, 6, 3), True),
    "vgg16_bn": _vgg16_bn,
    "googlenet": _googlenet,
}


def model_size(arch: str, kwargs: dict[str, Any] | None, image_size: int, classes: int) -> Size:
    """Parameters, forward MACs and conv/linear output elements of one image of ``arch`` built with
    ``kwargs`` (the config's ``models.<id>.kwargs``) for square RGB images of ``image_size`` pixels."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"no size formula for model arch {arch!r}; allowed: {', '.join(ARCHITECTURES)}")
    n = _Counter(3, image_size)
    ARCHITECTURES[arch](n, classes, **(kwargs or {}))
    return n.size()


# ---- the data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSize:
    """Images per split, their side in pixels and the number of classes, as the estimates assume."""

    train: int
    val: int
    probe: int
    image_size: int
    classes: int
    in_memory: bool  # the splits are uint8 arrays loaded whole (shapes, CIFAR); else decoded per batch

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "DataSize":
        d = config["data"]
        source = d["source"]
        given = (config.get("resources") or {}).get("images") or {}
        if source == "shapes":
            known = {"train": d["n_train"], "val": d["n_val"], "probe": d["n_probe"]}
            size, classes = d["shapes"]["size"], SHAPES_CLASSES
        else:
            known = {**KNOWN_IMAGES[source], "probe": BRODEN_IMAGES}
            size = 32 if source.startswith("cifar") else d["image_size"]
            classes = KNOWN_CLASSES[source]
        count = {k: int(given[k]) if given.get(k) is not None else int(known[k]) for k in ("train", "val", "probe")}
        return cls(count["train"], count["val"], count["probe"], int(size), classes, source != "imagefolder")

    @property
    def image_bytes(self) -> int:
        """One uint8 RGB image."""
        return 3 * self.image_size * self.image_size


# ---- the jobs -------------------------------------------------------------------------------------


def _config_error(message: str) -> Exception:
    from .studies import ConfigError  # studies does not import this module

    return ConfigError(message)


@dataclass(frozen=True)
class Job:
    """What one job asks for."""

    threads: int
    mem_mb: int
    runtime: int  # minutes
    gpus: int
    torch_threads: int
    processes: int = 1


class Resources:
    """Per-rule requests from the (schema-validated) config; see the module docstring for the formulas."""

    def __init__(self, config: dict[str, Any]) -> None:
        r = config.get("resources") or {}
        self.config = config
        self.device = config.get("device", "cpu")
        self.gpus = int(r.get("gpus", 0))
        processes = r.get("processes")
        if self.gpus > 0 and self.device == "cpu":
            raise _config_error(f"resources.gpus = {self.gpus} with device cpu; allowed with device cpu: 0 "
                                f"(several CPU processes: resources.processes), or device cuda / auto")
        if processes is not None and self.gpus > 0 and int(processes) != self.gpus:
            raise _config_error(f"resources.processes = {processes} with resources.gpus = {self.gpus}; allowed: "
                                f"{self.gpus} (one process per GPU) or null")
        self.processes = int(processes) if processes is not None else max(1, self.gpus)
        self.safety = float(r.get("safety", 2.0))
        self.cpu_macs = float(r.get("cpu_macs", 1.0e10))
        self.gpu_macs = float(r.get("gpu_macs", 1.0e13))
        train = config["train"]
        self.torch_threads = int(train.get("threads", 1))
        self.workers = int(train.get("workers", 0))  # train.workers: DataLoader workers per process
        self.data = DataSize.from_config(config)
        self._sizes: dict[str, Size] = {}

    # -- pieces

    def size(self, model: str) -> Size:
        """The size of the config's model ``model`` (a key of ``models``) at the data's image size."""
        if model not in self._sizes:
            spec = self.config["models"][model]
            self._sizes[model] = model_size(spec["arch"], spec.get("kwargs") or {}, self.data.image_size,
                                            self.data.classes)
        return self._sizes[model]

    @property
    def uses_gpu(self) -> bool:
        """Whether the estimates assume GPUs: GPUs requested, or ``device: cuda`` (a local GPU)."""
        return self.gpus > 0 or self.device == "cuda"

    def epochs(self, strategy: str | None) -> int:
        """Training epochs of dense training (``strategy`` None) or of a retraining strategy."""
        if strategy is None:
            return int(self.config["train"]["epochs"])
        s = STRATEGIES[strategy]
        if not s.trains:
            return 0
        return int(self.config["finetune"]["epochs"]) if s.optimizer else int(self.config["train"]["epochs"])

    def _minutes(self, seconds: float) -> int:
        return max(MIN_RUNTIME, math.ceil(self.safety * seconds / 60.0))

    def _mb(self, per_process_mb: float, processes: int) -> int:
        return max(MIN_MEM_MB, int(math.ceil(self.safety * processes * per_process_mb / 100.0)) * 100)

    # -- jobs

    def training(self, model: str, strategy: str | None = None) -> Job:
        """A training job of ``model``: dense training (``strategy`` None) or retraining by ``strategy``."""
        size, data, train = self.size(model), self.data, self.config["train"]
        p = self.processes
        epochs = self.epochs(strategy)
        rate = self.gpu_macs * p if self.uses_gpu else self.cpu_macs * self.torch_threads * p
        # a strategy that does not train evaluates once (validation, and the training split at most)
        passes = epochs * (3 * data.train + data.val) if epochs else data.train + data.val
        seconds = STARTUP_S + passes * size.macs / rate
        if not data.in_memory:  # images decoded from disk, by the DataLoader workers of every process
            images = epochs * (data.train + data.val) if epochs else data.train + data.val
            seconds += images * DECODE_S / (p * max(1, self.workers))
        batch, eval_batch = int(train["batch_size"]), int(train.get("eval_batch_size", 500))
        mb = BASE_MB + (CUDA_MB if self.uses_gpu else 0) + STATE_COPIES * 4 * size.params / 2**20
        batch_bytes = batch * data.image_bytes * 4  # a decoded, normalised float32 batch
        if data.in_memory:
            mb += (data.train + data.val) * data.image_bytes / 2**20
        else:
            mb += ((data.train + data.val) * INDEX_BYTES + 3 * batch_bytes) / 2**20
        if not self.uses_gpu:
            per_image = max(ACT_TRAIN * -(-batch // p), ACT_EVAL * eval_batch)
            mb += per_image * size.activations * 4 / 2**20
        mb += self.workers * (WORKER_MB + PREFETCH * batch_bytes / 2**20)
        return Job(threads=p * (self.torch_threads + self.workers), mem_mb=self._mb(mb, p),
                   runtime=self._minutes(seconds), gpus=self.gpus, torch_threads=self.torch_threads, processes=p)

    def extract(self, model: str) -> Job:
        """Extraction of ``model``'s activations on the probe (one process)."""
        size, data = self.size(model), self.data
        batch = int(self.config["extract"]["batch_size"])
        rate = self.gpu_macs if self.uses_gpu else self.cpu_macs
        seconds = STARTUP_S + data.probe * (size.macs / rate + (0 if data.in_memory else DECODE_S))
        # on a GPU the activations stay there, but for the stored layers' (at most all of them)
        per_image = data.image_bytes * 4 + (1 if self.uses_gpu else ACT_EVAL) * size.activations * 4
        mb = BASE_MB + (CUDA_MB if self.uses_gpu else 0) + 2 * 4 * size.params / 2**20 + batch * per_image / 2**20
        return Job(threads=1, mem_mb=self._mb(mb, 1), runtime=self._minutes(seconds), gpus=min(self.gpus, 1),
                   torch_threads=1)

    # -- what the rules use

    def rule(self, kind: str, model: str | None = None, strategy: str | None = None) -> dict[str, Any]:
        """The ``resources:`` of a rule of ``kind`` (:data:`KINDS`). Without ``model`` the values are
        functions of the job's wildcards (``model``, ``retrain`` or the ``run`` directory's model);
        ``gpu`` is set only when GPUs are requested."""
        if kind == ANALYSIS:  # the rule's own mem_mb / runtime; only the GPU comes from here
            return {"gpu": 1} if self.gpus else {}

        def job(wildcards: Any) -> Job:
            m = model
            if m is None:
                m = wildcards.get("model") or _model_of_run(wildcards.get("run"))
            if kind == TRAINING:
                return self.training(m, strategy if model is not None else wildcards.get("retrain"))
            if kind == EXTRACT:
                return self.extract(m)
            raise ValueError(f"unknown job kind {kind!r}; allowed: {', '.join(KINDS)}")

        def mem_mb(wildcards: Any) -> int:
            return job(wildcards).mem_mb

        def runtime(wildcards: Any) -> int:
            return job(wildcards).runtime

        out: dict[str, Any] = {"mem_mb": mem_mb, "runtime": runtime}
        if kind == TRAINING:
            out["torch_threads"] = self.torch_threads
        gpus = self.gpus if kind == TRAINING else min(self.gpus, 1)
        if gpus:
            out["gpu"] = gpus
        return out

    def threads(self, kind: str) -> int:
        """The ``threads:`` of a rule of ``kind``."""
        if kind == TRAINING:
            return self.processes * (self.torch_threads + self.workers)
        return 1

    def launch_params(self) -> dict[str, Any]:
        """Params of the training rules: the number of processes when more than one (it changes the
        numbers: each process normalises its own share of a batch), nothing otherwise, so that a
        single-process run's recorded params stay as they were."""
        return {"processes": self.processes} if self.processes > 1 else {}


def _model_of_run(run: str | None) -> str:
    from . import paths

    if not run:
        raise ValueError("a job without a model or run wildcard has no model to size")
    return paths.parse(run).model
