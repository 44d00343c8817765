"""Training in several processes (DistributedDataParallel, gloo on CPU, launched by torchrun): the
weights follow one process training on the whole batch, masks stay enforced on every rank, and
only rank 0 writes."""

import os
import subprocess
import sys

import pytest
import torch

SCRIPT = r"""
import sys, torch
from torch import nn
torch.set_num_threads(1)
from pruneinterp.training import Normalizer, TrainConfig, init_distributed, train
distributed = init_distributed("cpu")
rank = torch.distributed.get_rank() if distributed else 0
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (96, 8, 8, 3), dtype=torch.uint8, generator=g)
y = torch.randint(0, 3, (96,), generator=g)
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
masks = {"2.weight": torch.rand(6, 6, 3, 3, generator=g) > 0.5, "6.weight": torch.rand(3, 6, generator=g) > 0.3}
rows = []
net[0].register_forward_hook(lambda m, i, o: rows.append(len(i[0])) if m.training else None)
cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, warmup_iterations=0, precision="fp32", shift=int(sys.argv[2]),
                  channels_last=False)
res = train(net, {"train": (x, y), "val": (x[:32], y[:32])}, cfg, 0, Normalizer.fit(x.numpy()), masks=masks,
            capture_iterations=(3,), workers=int(sys.argv[3]))
if rank == 0:
    torch.save({"state": net.state_dict(), "metrics": res.metrics, "captured": res.captured[3], "rows": rows,
                "world": torch.distributed.get_world_size() if distributed else 1}, sys.argv[1])
else:
    print(f"rank {rank} wrote nothing", flush=True)  # one write: the ranks share the terminal
"""


def _run(tmp_path, shift, processes, workers=0):
    script = tmp_path / "train_some.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"w{processes}_{shift}.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script), str(out), str(shift), str(workers)]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"] + cmd[1:]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return torch.load(out, weights_only=False), proc.stdout


# with augmentation too (each image's draws seeded by its place in the whole batch), and then with a
# DataLoader worker per rank
@pytest.mark.parametrize("shift", [0, 2])
def test_two_processes_train_the_weights_of_one_on_the_whole_batch(tmp_path, shift):
    one, _ = _run(tmp_path, shift, 1)
    two, out = _run(tmp_path, shift, 2, workers=1 if shift else 0)
    assert two["world"] == 2 and "rank 1 wrote nothing" in out
    assert set(one["rows"]) == {16} and set(two["rows"]) == {8}  # each rank trains on half of every batch
    assert len(one["rows"]) == len(two["rows"]) == 12  # 2 epochs x 6 steps
    for key, value in one["state"].items():
        assert torch.allclose(value, two["state"][key], atol=1e-5, rtol=1e-4), key
    for key, value in one["captured"].items():  # the rewind point is the same iteration
        assert torch.allclose(value, two["captured"][key], atol=1e-5, rtol=1e-4), key
    assert (two["state"]["2.weight"] == 0).sum() > 0
    g = torch.Generator().manual_seed(0)
    torch.randint(0, 256, (96, 8, 8, 3), dtype=torch.uint8, generator=g), torch.randint(0, 3, (96,), generator=g)
    mask = torch.rand(6, 6, 3, 3, generator=g) > 0.5
    assert (two["state"]["2.weight"][~mask] == 0).all() and (two["state"]["2.weight"][mask] != 0).all()
    running = [(m["epoch"], round(m["loss"], 4), round(m["top1"], 4)) for m in one["metrics"] if m["split"] == "train_running"]
    assert running == [(m["epoch"], round(m["loss"], 4), round(m["top1"], 4))
                       for m in two["metrics"] if m["split"] == "train_running"]
