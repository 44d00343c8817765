"""docs/config.md is generated from the schema and must not drift from it."""

import subprocess
import sys

from pruneinterp import configdoc


def test_docs_config_md_is_up_to_date():
    assert configdoc.DOC.read_text() == configdoc.render(), (
        "docs/config.md is out of date: run `pruneinterp config-docs` and commit it")


def test_every_config_key_has_a_meaning():
    assert configdoc.undocumented() == []


def test_the_reference_lists_every_key_with_its_default_and_allowed_values():
    paths = dict(configdoc.rows(configdoc.load_schema()))
    for key in ("train.precision", "dissect.iou_threshold", "studies.<name>.arms[].retrain", "figures.<name>.x",
                "dissect.bootstrap.replicates", "models.<name>.kwargs", "mis.alpha"):
        assert key in paths, key
    text = configdoc.render()
    assert "| `train.precision` | string | `\"fp32\"` | `fp32`, `bf16`, `fp16`, `auto` |" in text
    assert "| `train.workers` | integer | `0` | >= 0 |" in text
    assert "| `dissect.quantile` | number | `0.005` | > 0; < 1 |" in text
    assert "| `studies.<name>.model` | string | required |" in text


def test_config_docs_cli_writes_the_file(tmp_path):
    out = tmp_path / "config.md"
    proc = subprocess.run([sys.executable, "-m", "pruneinterp", "config-docs", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == configdoc.render()
