"""The pretrained zoo's files against what is written about them (issue 23): the README
lists every file in mmzoo/pretrained/ with its size and sha256, generator files
included; every file carries every metadata key docs/onnx.md lists; and the BatchNorm
statistics each file keeps are the ones with the lower val loss ("keeps the better")."""

from __future__ import annotations

import hashlib
import re

import onnx
import pytest
from conftest import REPO

ZOO = REPO / "mmzoo" / "pretrained"
FILES = sorted(p.name for p in ZOO.glob("*.onnx"))


def readme_files() -> dict[str, tuple[int, str]]:
    """file -> (size, sha256), from the README's table of every file."""
    rows = {}
    for line in (ZOO / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0].endswith(".onnx"):
            rows[cells[0]] = (int(cells[1]), cells[2])
    return rows


def documented_keys() -> set[str]:
    """Every key docs/onnx.md's metadata_props section names: the table's and the
    informative ones."""
    text = (REPO / "docs" / "onnx.md").read_text(encoding="utf-8")
    section = text.split("## metadata_props")[1].split("\n## ")[0]
    return set(re.findall(r"`(mmzoo\.[a-z_0-9]+)`", section))


def props(name: str) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(ZOO / name), load_external_data=False).metadata_props}


def test_the_readme_lists_every_file_with_its_sha256() -> None:
    assert len(FILES) == 18 and sum(f.endswith(".gen.onnx") for f in FILES) == 9
    listed = readme_files()
    assert sorted(listed) == FILES, "run scripts/make_generators.py (it rewrites the README's table)"
    for name in FILES:
        data = (ZOO / name).read_bytes()
        assert listed[name] == (len(data), hashlib.sha256(data).hexdigest()), f"{name}: stale README row"


def test_the_docs_list_the_keys_this_test_checks() -> None:
    keys = documented_keys()
    assert {"mmzoo.norm", "mmzoo.val_loss_calibrated", "mmzoo.calibrated", "mmzoo.vocab"} <= keys
    assert len(keys) >= 20


@pytest.mark.parametrize("name", FILES)
def test_every_file_carries_every_documented_key(name: str) -> None:
    got = props(name)
    missing = sorted(documented_keys() - set(got))
    assert not missing, f"{name} lacks {missing}: run scripts/make_zoo.py --fill-metadata"
    assert got["mmzoo.input"] == ("generate" if name.endswith(".gen.onnx") else got["mmzoo.input"])


@pytest.mark.parametrize("name", [f for f in FILES if not f.endswith(".gen.onnx")])
def test_each_file_keeps_the_better_statistics(name: str) -> None:
    got = props(name)
    running, kept = float(got["mmzoo.val_loss_uncalibrated"]), float(got["mmzoo.val_loss"])
    layers = int(got["mmzoo.bn_layers"])
    assert ("batch" in got["mmzoo.norm"].split("+")) == (layers > 0) == (got["mmzoo.bn_folded"] == "true")
    if layers == 0:  # nothing to calibrate
        assert got["mmzoo.val_loss_calibrated"] == "" and got["mmzoo.calibrated"] == "false" and kept == running
        return
    calibrated = float(got["mmzoo.val_loss_calibrated"])
    assert got["mmzoo.calibrated"] == ("true" if calibrated < running else "false")
    assert kept == min(calibrated, running)
    gen = props(name.removesuffix(".onnx") + ".gen.onnx")
    assert {k: v for k, v in gen.items() if k not in ("mmzoo.input", "mmzoo.generate_from")} == {
        k: v for k, v in got.items() if k != "mmzoo.input"
    }
