from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import train_tiny_dense
from pruneinterp import stages
from pruneinterp.io import load_checkpoint
from pruneinterp.models import build_model
from pruneinterp.training import Normalizer, TrainConfig, train

CFG = dict(epochs=2, batch_size=32, lr=0.05, warmup_iterations=0, precision="fp32")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    return d, train_tiny_dense(d, 128, 64, CFG, 3)


def test_dense_training_is_reproducible(dense, tmp_path):
    d, out = dense
    again = {k: str(tmp_path / f"{k}.pt") for k in ("init", "rewind", "checkpoint")}
    again["metrics"] = str(tmp_path / "metrics.csv")
    stages.train_dense(str(d / "train.npz"), str(d / "val.npz"), again, "convnet", {"width": 4}, CFG, 0, 3)
    a, b = load_checkpoint(out["checkpoint"])["state_dict"], load_checkpoint(again["checkpoint"])["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert open(out["metrics"]).read() == open(again["metrics"]).read()


def test_rewind_checkpoint_is_iteration_k(dense):
    _, out = dense
    init, rewind, final = (load_checkpoint(out[k]) for k in ("init", "rewind", "checkpoint"))
    assert init["iteration"] == 0 and rewind["iteration"] == 3
    w = "features.conv1.conv.weight"
    assert not torch.equal(init["state_dict"][w], rewind["state_dict"][w])
    assert not torch.equal(rewind["state_dict"][w], final["state_dict"][w])


def test_retraining_starts_from_rewound_weights_and_keeps_masks(dense, tmp_path):
    d, out = dense
    stages.prune(out["checkpoint"], str(tmp_path / "pruned.pt"), "magnitude_global", 0.5)
    mask_ckpt = load_checkpoint(tmp_path / "pruned.pt")
    masks = mask_ckpt["masks"]
    rewind = load_checkpoint(out["rewind"])
    # start of retraining: surviving weights equal the iteration-k weights
    net = build_model("convnet", **rewind["model_kwargs"])
    net.load_state_dict(rewind["state_dict"])
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    res = train(net, data, TrainConfig(**CFG), 0, Normalizer(**rewind["normalization"]), masks=masks,
                start_iteration=3, capture_iterations=(3,))
    start = res.captured[3]
    for key, m in masks.items():
        assert torch.equal(start[key][m], rewind["state_dict"][key][m])
        assert (start[key][~m] == 0).all()
    # the stage itself: after retraining, masked weights are exactly 0 and others moved
    outs = {"checkpoint": str(tmp_path / "ckpt.pt"), "metrics": str(tmp_path / "m.csv")}
    stages.retrain(str(tmp_path / "pruned.pt"), str(d / "train.npz"), str(d / "val.npz"), outs, "rewind", CFG, 0,
                   {"study": "t", "method": "magnitude_global", "schedule": "iterative", "retrain": "rewind"},
                   rewind_path=out["rewind"])
    after = load_checkpoint(outs["checkpoint"])
    for key, m in masks.items():
        w = after["state_dict"][key]
        assert (w[~m] == 0).all()
        assert not torch.equal(w[m], rewind["state_dict"][key][m])
    assert after["sparsity"]["prunable_fraction_removed"] == pytest.approx(
        1 - sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values()))


def test_exponential_schedule_is_exponentiallr_stepped_per_epoch():
    from pruneinterp.training import learning_rate

    cfg = TrainConfig(lr=0.01, gamma=0.5, schedule="exponential")
    assert [learning_rate(cfg, it, 100, 10) for it in (0, 9, 10, 25)] == [0.01, 0.01, 0.005, 0.0025]
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    for epoch in range(3):
        assert opt.param_groups[0]["lr"] == pytest.approx(learning_rate(cfg, epoch * 10 + 3, 100, 10))
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="train.optimizer must be one of sgd, adam"):
        TrainConfig(optimizer="rmsprop")



def _first_layer_inputs(net, store):
    """Record every training batch the network's first module sees (after normalisation)."""
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first.register_forward_hook(lambda m, i, o: store.append(i[0].detach().clone()) if m.training else None)


def test_a_rewound_run_with_workers_sees_the_dense_runs_augmented_batches(dense):
    """With augmentation on, the batches from iteration k on are the same whether the run started at
    0 in this process or was rewound to k and read by 2 DataLoader workers: order and augmentation
    depend on (seed, epoch, batch) only."""
    d, out = dense
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    cfg = TrainConfig(**{**CFG, "augment": "cifar"})
    rewind = load_checkpoint(out["rewind"])
    norm = Normalizer(**rewind["normalization"])
    runs = []
    for start, workers in ((0, 0), (3, 2)):
        seen: list[torch.Tensor] = []
        net = build_model("convnet", **rewind["model_kwargs"])
        net.load_state_dict(rewind["state_dict"])
        _first_layer_inputs(net, seen)
        train(net, data, cfg, 0, norm, start_iteration=start, workers=workers)
        runs.append(seen)
    full, rewound = runs
    steps = 128 // CFG["batch_size"]
    assert len(full) == 2 * steps and len(rewound) == 2 * steps - 3
    for a, b in zip(full[3:], rewound):
        assert torch.equal(a, b)
    assert not torch.equal(full[0], full[steps])  # epochs differ (order and draws)


def test_training_with_two_workers_gives_the_weights_of_training_in_the_process(dense):
    """The same run (augmented, rewound, masked) with 0 and with 2 DataLoader workers: identical
    weights, metrics and captured states, bit for bit."""
    d, out = dense
    stages.prune(out["checkpoint"], str(d / "pruned_w.pt"), "magnitude_global", 0.5)
    masks = load_checkpoint(d / "pruned_w.pt")["masks"]
    rewind = load_checkpoint(out["rewind"])
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    cfg = TrainConfig(**{**CFG, "shift": 2, "flip": True})
    results = []
    for workers in (0, 2):
        net = build_model("convnet", **rewind["model_kwargs"])
        net.load_state_dict(rewind["state_dict"])
        res = train(net, data, cfg, 0, Normalizer(**rewind["normalization"]), masks=masks, start_iteration=3,
                    capture_iterations=(5,), workers=workers)
        results.append((net.state_dict(), res))
    (a, ra), (b, rb) = results
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ra.metrics == rb.metrics and len(ra.metrics) == 4
    assert all(torch.equal(ra.captured[5][k], rb.captured[5][k]) for k in ra.captured[5])
    for key, m in masks.items():
        assert (b[key][~m] == 0).all()


def _reference_training(net, x_train, y_train, cfg, seed, norm):
    """The training loop as it was before the DataLoader (commit e42db07), without augmentation,
    masks or resuming: the numbers the embedded default run's checkpoints were made with
    (``cfg.precision`` fp32 or bf16, resolved)."""
    import math

    import torch.nn.functional as F

    n = len(x_train)
    steps = n // cfg.batch_size
    total = cfg.epochs * steps
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, momentum=cfg.momentum)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net.to(memory_format=layout)
    it = 0
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        net.train()
        for b in range(steps):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = norm(x_train[idx]).contiguous(memory_format=layout)
            if it < cfg.warmup_iterations:
                lr = cfg.lr * (it + 1) / cfg.warmup_iterations
            else:
                progress = (it - cfg.warmup_iterations) / max(1, total - cfg.warmup_iterations)
                lr = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                loss = F.cross_entropy(net(x).float(), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
    return net.to(memory_format=torch.contiguous_format)


@pytest.mark.parametrize("workers", [0, 2])
def test_default_training_is_bit_identical_to_the_loop_before_the_dataloader(workers):
    """The embedded default run's settings (config/config.yaml: its ResNet, batch 64, warm-up,
    precision auto, channels_last) train exactly the weights of the hand-written loop the default
    run's results were made with, with the batches read by 0 or 2 workers."""
    import yaml

    from pruneinterp.training import resolve_precision

    config = yaml.safe_load(open("config/config.yaml"))
    settings = {k: v for k, v in config["train"].items() if k not in ("rewind_iteration", "threads")}
    cfg = TrainConfig(**{**settings, "epochs": 2, "warmup_iterations": 5})
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (320, 32, 32, 3), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (320,), generator=g)
    norm = Normalizer.fit(x.numpy())
    kwargs = config["models"]["resnet"]["kwargs"]
    torch.manual_seed(0)
    ours = build_model("resnet", num_classes=10, **kwargs)
    reference = build_model("resnet", num_classes=10, **kwargs)
    reference.load_state_dict(ours.state_dict())
    train(ours, {"train": (x, y)}, cfg, 7, norm, workers=workers)
    _reference_training(reference, x, y, replace(cfg, precision=resolve_precision(cfg.precision, torch.device("cpu"))),
                        7, norm)
    a, b = ours.state_dict(), reference.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc.weight"], build_model("resnet", num_classes=10, **kwargs).state_dict()["fc.weight"])


def test_a_killed_training_run_resumes_from_its_last_epoch_with_identical_weights(tmp_path):
    """The dense stage saves its state after every epoch; a run SIGKILLed in epoch 3 and started
    again continues from epoch 2 and writes byte-identical files (checkpoints, metrics) to an
    uninterrupted run's; the state file is gone at the end."""
    import signal
    import subprocess
    import sys
    import time

    stages.make_data(tmp_path / "d", 1500, 64, 4, 0)
    cfg = '{"epochs": 4, "batch_size": 32, "lr": 0.05, "precision": "fp32"}'

    def command(out):
        return [sys.executable, "-m", "pruneinterp", "--threads", "1", "train", "--train",
                str(tmp_path / "d/train.npz"), "--val", str(tmp_path / "d/val.npz"), "--out-dir", str(out),
                "--model-kwargs", '{"width": 8}', "--train-config", cfg, "--rewind-iteration", "5"]

    subprocess.run(command(tmp_path / "whole"), check=True, capture_output=True)
    state = tmp_path / "killed" / ".checkpoint.pt.resume"
    proc = subprocess.Popen(command(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and torch.load(state, weights_only=True)["epoch"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert state.is_file() and not (tmp_path / "killed/checkpoint.pt").exists()
    rerun = subprocess.run(command(tmp_path / "killed"), check=True, capture_output=True, text=True)
    assert "resuming from epoch" in rerun.stdout + rerun.stderr
    for name in ("init.pt", "rewind.pt", "checkpoint.pt", "metrics.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes(), name
    assert not state.exists()


def test_resuming_a_masked_retraining_gives_the_uninterrupted_weights(dense, tmp_path):
    """The same for a retraining with masks and rewinding (start at iteration 3): interrupted after
    epoch 1 (an exception, as a kill would), resumed, equal to the uninterrupted run; masked weights
    stay 0."""
    d, out = dense
    stages.prune(out["checkpoint"], str(tmp_path / "pruned.pt"), "magnitude_global", 0.5)
    masks = load_checkpoint(tmp_path / "pruned.pt")["masks"]
    rewind = load_checkpoint(out["rewind"])
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    cfg = TrainConfig(**{**CFG, "epochs": 3})
    norm = Normalizer(**rewind["normalization"])

    def start():
        net = build_model("convnet", **rewind["model_kwargs"])
        net.load_state_dict(rewind["state_dict"])
        return net

    whole = start()
    expected = train(whole, data, cfg, 0, norm, masks=masks, start_iteration=3)

    class Killed(Exception):
        pass

    def kill(epoch, _model):
        if epoch == 1:
            raise Killed

    state = str(tmp_path / ".resume")
    with pytest.raises(Killed):
        train(start(), data, cfg, 0, norm, masks=masks, start_iteration=3, resume=state, on_epoch=kill)
    resumed = start()
    got = train(resumed, data, cfg, 0, norm, masks=masks, start_iteration=3, resume=state)
    assert got.metrics == expected.metrics
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    for key, m in masks.items():
        assert (resumed.state_dict()[key][~m] == 0).all()
    # a state saved under other settings is not resumed
    with pytest.raises(Killed):
        train(start(), data, cfg, 0, norm, masks=masks, start_iteration=3, resume=state, on_epoch=kill)
    other = TrainConfig(**{**CFG, "epochs": 3, "lr": 0.07})
    fresh = train(start(), data, other, 0, norm, masks=masks, start_iteration=3, resume=state)
    assert len(fresh.metrics) == len(expected.metrics)
    assert fresh.metrics[1] != expected.metrics[1]  # epoch 1 val: trained again at the new lr, not the saved state


def test_normalizer_fit_equals_the_float64_mean_and_std():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    images[..., 2] //= 7  # channels with different statistics
    norm = Normalizer.fit(images)
    x = images.reshape(-1, 3).astype(np.float64) / 255.0
    assert np.allclose(norm.mean, x.mean(0), rtol=0, atol=1e-12)
    assert np.allclose(norm.std, x.std(0), rtol=0, atol=1e-12)
    assert norm.std[2] < norm.std[0]


def test_auto_precision_is_bf16_only_where_the_device_computes_it_natively(monkeypatch):
    from pruneinterp import training

    cpu = torch.device("cpu")
    assert training.resolve_precision("fp32", cpu) == "fp32"
    assert training.resolve_precision("bf16", cpu) == "bf16"
    assert training.resolve_precision("auto", cpu) == ("bf16" if training.native_bf16(cpu) else "fp32")
    monkeypatch.setattr(training, "native_bf16", lambda device: True)
    assert training.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(training, "native_bf16", lambda device: False)
    assert training.resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ValueError, match="train.precision must be one of bf16, fp16, fp32, auto; got 'fp8'"):
        TrainConfig(precision="fp8")


def test_auto_precision_trains_exactly_as_the_precision_it_resolves_to(dense):
    from pruneinterp import training

    d, _ = dense
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    norm = Normalizer.fit(np.load(d / "train.npz")["images"])
    weights = {}
    for precision in ("auto", training.resolve_precision("auto", torch.device("cpu"))):
        torch.manual_seed(0)
        net = build_model("convnet", width=4)
        train(net, data, TrainConfig(**{**CFG, "epochs": 1, "precision": precision}), 0, norm)
        weights[precision] = net.state_dict()
    a, b = weights.values()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_channels_last_hazard_names_the_narrow_strided_1x1_convolution():
    from pruneinterp.training import channels_last_hazard

    narrow = build_model("resnet", widths=[4, 8, 8, 8])
    hazard = channels_last_hazard(narrow, torch.device("cpu"))
    assert hazard is not None and hazard.startswith("layer2.0.downsample.0 ") and "4 input channels" in hazard
    assert channels_last_hazard(narrow, torch.device("cuda")) is None
    assert channels_last_hazard(build_model("resnet", widths=[16, 32, 64, 64]), torch.device("cpu")) is None


def test_a_narrow_resnet_trains_on_cpu_with_channels_last_requested(tmp_path):
    """In a child process, so that the heap corruption channels_last would cause cannot take pytest with it."""
    import os
    import subprocess
    import sys

    script = """
import torch
torch.set_num_threads(1)
from pruneinterp.models import build_model
from pruneinterp.training import Normalizer, TrainConfig, train
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (128, 32, 32, 3), dtype=torch.uint8, generator=g)
y = torch.randint(0, 10, (128,), generator=g)
net = build_model("resnet", widths=[4, 8, 8, 8])
cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, precision="fp32", channels_last=True)
res = train(net, {"train": (x, y), "val": (x, y)}, cfg, 0, Normalizer.fit(x.numpy()))
print("trained", len(res.metrics))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "channels_last off: layer2.0.downsample.0" in proc.stdout
    assert "trained 6" in proc.stdout


def _masked_run(dense, tmp_path, **settings):
    """The rewound, masked retraining of the dense fixture's network with ``settings``; returns
    (weights, masks, metrics, dtypes of the first conv's training outputs)."""
    d, out = dense
    stages.prune(out["checkpoint"], str(tmp_path / "pruned.pt"), "magnitude_global", 0.5)
    masks = load_checkpoint(tmp_path / "pruned.pt")["masks"]
    rewind = load_checkpoint(out["rewind"])
    data = {"train": stages.load_split(d / "train.npz"), "val": stages.load_split(d / "val.npz")}
    net = build_model("convnet", **rewind["model_kwargs"])
    net.load_state_dict(rewind["state_dict"])
    dtypes = set()
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first.register_forward_hook(lambda m, i, o: dtypes.add(o.dtype) if m.training else None)
    res = train(net, data, TrainConfig(**{**CFG, **settings}), 0, Normalizer(**rewind["normalization"]),
                masks=masks, start_iteration=3)
    return net.state_dict(), masks, res.metrics, dtypes


def test_fp16_autocast_with_a_gradient_scaler_trains_close_to_fp32_with_masks_kept(dense, tmp_path):
    """precision fp16 runs the forward pass in float16 (autocast) with torch.amp.GradScaler; on CPU
    too (torch 2.14 has CPU fp16 autocast and a CPU GradScaler), so the path is tested here."""
    w16, masks, m16, dtypes16 = _masked_run(dense, tmp_path, precision="fp16")
    w32, _, m32, dtypes32 = _masked_run(dense, tmp_path, precision="fp32")
    assert dtypes16 == {torch.float16} and dtypes32 == {torch.float32}
    for key, m in masks.items():
        assert (w16[key][~m] == 0).all() and (w16[key][m] != 0).all()
    for key, value in w32.items():
        if value.is_floating_point():
            assert torch.isfinite(w16[key]).all(), key
            assert torch.allclose(w16[key], value, atol=2e-2, rtol=2e-2), (key, (w16[key] - value).abs().max())
    assert not all(torch.equal(w16[k], w32[k]) for k in w32)  # half precision did change the numbers
    assert [r["split"] for r in m16] == [r["split"] for r in m32]


def test_compiled_training_keeps_masks_and_follows_the_uncompiled_run(dense, tmp_path):
    """train.compile: torch.compile of the training forward pass, here with the aot_eager backend
    (graph capture and autograd tracing, no C compiler needed); the mask hooks are traced too."""
    import torch._dynamo

    torch._dynamo.reset()
    compiled, masks, mc, _ = _masked_run(dense, tmp_path, compile="aot_eager")
    plain, _, mp, _ = _masked_run(dense, tmp_path)
    for key, m in masks.items():
        assert (compiled[key][~m] == 0).all() and (compiled[key][m] != 0).all()
    for key, value in plain.items():
        assert torch.allclose(compiled[key].float(), value.float(), atol=1e-5, rtol=1e-4), key
    assert [round(r["top1"], 6) for r in mc] == [round(r["top1"], 6) for r in mp]
    with pytest.raises(ValueError, match="train.compile must be one of none, inductor, aot_eager, eager; got 'jit'"):
        TrainConfig(compile="jit")


def test_device_auto_picks_cuda_where_present_and_cuda_without_one_is_a_config_error(monkeypatch):
    """``device: auto`` is CUDA when torch sees a GPU (under torchrun: the rank's LOCAL_RANK GPU),
    else the CPU; ``device: cuda`` on a machine without one is one error naming the allowed values."""
    from pruneinterp.training import resolve_device

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="allowed here: cpu, auto"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)
