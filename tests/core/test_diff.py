"""`alexspec diff`: layer by layer changes and totals between two specs."""

from __future__ import annotations

import json

from alexnet_spec.diff import diff_networks
from alexnet_spec.loading import load_network
from tests.conftest import SPECS_DIR, run_cli


def test_one_gpu_variant_against_the_paper_model():
    report = diff_networks(load_network(SPECS_DIR / "alexnet.yaml"), load_network(SPECS_DIR / "alexnet_1gpu.yaml"))
    changed = {change.name: change for change in report.layers}
    assert {"conv2", "conv4", "conv5", "norm1", "norm2"} == set(changed)
    assert [(f.field, f.before, f.after) for f in changed["conv2"].fields] == [("groups", 2, 1)]
    assert changed["conv2"].params_delta == 307_200
    assert report.totals["params"] == (60_965_224, 62_378_344)
    assert ("devices", ["gpu0", "gpu1"], None) in [(c.field, c.before, c.after) for c in report.top_level]


def test_removed_and_added_layers():
    report = diff_networks(load_network(SPECS_DIR / "alexnet.yaml"), load_network(SPECS_DIR / "alexnet_nolrn.yaml"))
    assert [(c.name, c.status) for c in report.layers] == [("norm1", "removed"), ("norm2", "removed")]
    back = diff_networks(load_network(SPECS_DIR / "alexnet_nolrn.yaml"), load_network(SPECS_DIR / "alexnet.yaml"))
    assert [(c.name, c.status) for c in back.layers] == [("norm1", "added"), ("norm2", "added")]


def test_identical_specs_have_no_changes():
    net = load_network(SPECS_DIR / "lenet5.yaml")
    assert not diff_networks(net, net).differs


def test_cli_json_exit_code_and_set():
    result = run_cli("diff", "specs/lenet5.yaml", "specs/lenet5.yaml", "--exit-code")
    assert result.returncode == 0
    result = run_cli("diff", "specs/lenet5.yaml", "specs/lenet5.yaml", "--set", "f6.out_features=42", "--json",
                     "--exit-code")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["layers"][0]["name"] == "f6" and data["totals"]["params"]["delta"] == (42 - 84) * 121 + (10 * 42 - 10 * 84)


def test_bad_path_is_a_located_error():
    result = run_cli("diff", "specs/lenet5.yaml", "specs/nothere.yaml")
    assert result.returncode == 2 and "specs/nothere.yaml: error: no such file" in result.stderr
