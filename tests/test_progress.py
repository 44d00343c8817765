"""Progress lines in job logs: position, ETA, the latest metrics; a bar only on a terminal."""

import io

import numpy as np

from conftest import train_tiny_dense
from pruneinterp.progress import Progress, _duration


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_lines_carry_position_eta_and_metrics(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("pruneinterp.progress.time.monotonic", lambda: now[0])
    out = io.StringIO()
    p = Progress(4, "train", unit="it", interval=30.0, stream=out)
    now[0] = 10.0
    p.update(1, loss=0.5)  # under the interval: silent
    assert out.getvalue() == ""
    now[0] = 40.0
    p.update(1, loss=0.25)  # a line; 2 of 4 in 40 s -> ETA 40 s
    assert out.getvalue().splitlines() == ["train: 2/4 it (50%), 40 s, ETA 40 s, loss 0.25"]
    p.line("epoch 1/2: val top1 0.9000")
    assert out.getvalue().splitlines()[-1] == "epoch 1/2: val top1 0.9000 [train: 2/4 it (50%), 40 s, ETA 40 s, loss 0.25]"
    now[0] = 100.0
    p.update(2)
    p.close()  # the end: no ETA
    assert out.getvalue().splitlines()[-1] == "train: 4/4 it (100%), 1 min 40 s, loss 0.25"


def test_a_terminal_gets_a_bar_and_a_log_does_not():
    tty, log = _Tty(), io.StringIO()
    with Progress(3, "dissect", unit="chunk", stream=tty) as bar, Progress(3, "dissect", unit="chunk", stream=log) as plain:
        for _ in range(3):
            bar.update(1)
            plain.update(1)
    assert bar._bar is None and "\r" in tty.getvalue()  # tqdm redraws the line in place
    assert log.getvalue().splitlines() == ["dissect: 3/3 chunk (100%), 0 s"]


def test_durations_read_as_a_person_would():
    assert [_duration(s) for s in (4.2, 75, 3725)] == ["4 s", "1 min 15 s", "1 h 02 min"]


def test_a_training_job_logs_every_epoch_with_its_metrics(tmp_path, capsys):
    train_tiny_dense(tmp_path, 128, 64, dict(epochs=2, batch_size=32, lr=0.05, warmup_iterations=0,
                                             precision="fp32"), 3)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    for ln in lines:
        loss = float(ln.split("train loss ")[1].split()[0])
        val = float(ln.split("val top1 ")[1].split()[0])
        assert np.isfinite(loss) and 0 <= val <= 1
    assert "ETA" in lines[0] and "(50%)" in lines[0]
