"""`alexspec diff`: layers matched by name, then renamed/moved/added/removed; changed fields, shapes, parameters and
MACs with signed deltas (checked against hand-computed counts); totals; the command's output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from hypothesis import given, settings
from typer.testing import CliRunner

from alexnet_spec.tools.diff import diff_networks, field_changes
from alexnet_spec.source.loading import load_network, parse_network
from alexnet_spec.tools.commands import diff_command
from tests.conftest import ROOT, SPECS_DIR, resolve_text
from tests.strategies import to_yaml, valid_specs

BASE = """
    name: Small
    input: {channels: 3, height: 8, width: 8}
    layers:
      - {type: conv, name: c1, out_channels: 4, kernel: 3}
      - {type: relu, name: r1}
      - {type: maxpool, name: p1, kernel: 2}
      - {type: flatten, name: flat}
      - {type: dense, name: out, out_features: 5}
"""


def small(*layers: str, name: str = "Small"):
    body = "\n".join(f"      - {layer}" for layer in layers)
    return resolve_text(f"""
    name: {name}
    input: {{channels: 3, height: 8, width: 8}}
    layers:
{body}
    """)


def test_one_gpu_variant_against_the_paper_model():
    report = diff_networks(load_network(SPECS_DIR / "alexnet.yaml"), load_network(SPECS_DIR / "alexnet_1gpu.yaml"))
    changed = {layer.name: layer for layer in report.layers}
    assert set(changed) == {"norm1", "conv2", "norm2", "conv4", "conv5"}
    assert {layer.status for layer in report.layers} == {"changed"}
    for name in changed:
        assert [(f.field, f.before, f.after) for f in changed[name].fields] == [("groups", 2, 1)]
    # conv2: 256 kernels of 5×5 over 48 (grouped) or 96 (whole) input channels, plus 256 biases.
    assert changed["conv2"].params.before == 256 * 48 * 25 + 256 == 307_456
    assert changed["conv2"].params.after == 256 * 96 * 25 + 256 == 614_656
    assert changed["conv2"].params.delta == 307_200
    assert changed["conv2"].macs.delta == 256 * 27 * 27 * 48 * 25  # the other half of the input, at 27×27
    assert changed["conv4"].params.delta == 384 * 192 * 9 and changed["conv5"].params.delta == 256 * 192 * 9
    assert changed["norm1"].params.delta == 0 and changed["norm1"].shape_a == changed["norm1"].shape_b == (96, 55, 55)
    params = report.totals["params"]
    assert (params.before, params.after, params.delta) == (60_965_224, 62_378_344, 1_413_120)
    assert params.delta == 307_200 + 384 * 192 * 9 + 256 * 192 * 9
    network = {change.field: (change.before, change.after) for change in report.network}
    assert network["devices"] == (["gpu0", "gpu1"], []) and network["name"] == ("AlexNet", "AlexNet1GPU")
    assert report.unchanged == 24 - 5 and report.differs


def test_removed_and_added_layers():
    paper, nolrn = load_network(SPECS_DIR / "alexnet.yaml"), load_network(SPECS_DIR / "alexnet_nolrn.yaml")
    report = diff_networks(paper, nolrn)
    assert [(layer.name, layer.status, layer.index_a) for layer in report.layers] == [("norm1", "removed", 2),
                                                                                      ("norm2", "removed", 6)]
    assert report.layers[0].summary.startswith("lrn size=5 alpha=0.0001 beta=0.75")
    assert report.totals["layers"].delta == -2 and report.totals["params"].delta == 0
    back = diff_networks(nolrn, paper)
    assert [(layer.name, layer.status, layer.index_b) for layer in back.layers] == [("norm1", "added", 2),
                                                                                    ("norm2", "added", 6)]


def test_renamed_by_position_and_type_changes():
    a = resolve_text(BASE)
    b = small("{type: conv, name: stem, out_channels: 6, kernel: 3}", "{type: tanh, name: r1}",
              "{type: maxpool, name: p1, kernel: 2}", "{type: flatten, name: flat}",
              "{type: dense, name: out, out_features: 5}")
    report = diff_networks(a, b)
    entries = [(layer.status, layer.label) for layer in report.layers]
    assert entries == [("renamed", "c1 → stem"), ("changed", "r1"), ("changed", "p1"), ("changed", "flat"),
                       ("changed", "out")]
    stem, r1 = report.layers[0], report.layers[1]
    assert [(f.field, f.before, f.after) for f in stem.fields] == [("out_channels", 4, 6)]
    assert stem.params.delta == (6 - 4) * (3 * 9 + 1) and stem.shape_b == (6, 6, 6)
    assert [(f.field, f.before, f.after) for f in r1.fields] == [("type", "relu", "tanh")]
    assert report.layers[-1].params.delta == 5 * (6 - 4) * 3 * 3  # out reads 6×3×3 instead of 4×3×3 features
    # Different types at one position are not a rename: one removed, one added.
    c = small("{type: conv, name: c1, out_channels: 4, kernel: 3}", "{type: sigmoid, name: s1}",
              "{type: maxpool, name: p1, kernel: 2}", "{type: flatten, name: flat}",
              "{type: dense, name: out, out_features: 5}")
    assert [(layer.status, layer.name) for layer in diff_networks(a, c).layers] == [("removed", "r1"), ("added", "s1")]


def test_moved_layer():
    a = resolve_text(BASE)
    b = small("{type: conv, name: c1, out_channels: 4, kernel: 3}", "{type: maxpool, name: p1, kernel: 2}",
              "{type: relu, name: r1}", "{type: flatten, name: flat}", "{type: dense, name: out, out_features: 5}")
    report = diff_networks(a, b)
    assert [(layer.status, layer.name) for layer in report.layers] == [("moved", "r1")]
    moved = report.layers[0]
    assert (moved.index_a, moved.index_b, moved.shape_a, moved.shape_b) == (1, 2, (4, 6, 6), (4, 3, 3))
    assert not report.network and report.totals["params"].delta == 0


def test_identical_specs_have_no_changes():
    net = load_network(SPECS_DIR / "alexnet.yaml")
    report = diff_networks(net, load_network(SPECS_DIR / "alexnet.yaml"))
    assert not report.differs and report.layers == () and report.network == ()
    assert report.unchanged == 24 and report.totals["params"].delta == 0
    assert json.loads(json.dumps(report.to_json()))["differs"] is False


def test_nested_fields_are_dotted():
    changes = field_changes({"type": "conv", "init": {"weight": {"std": 0.01, "mean": 0}}, "padding": [1, 1]},
                            {"type": "conv", "init": {"weight": {"std": 0.02, "mean": 0}}, "padding": [1, 2]})
    assert [(c.field, c.before, c.after) for c in changes] == [("init.weight.std", 0.01, 0.02),
                                                               ("padding", [1, 1], [1, 2])]
    assert [(c.field, c.before, c.after) for c in field_changes({"p": 0.5}, {"q": 1})] == [("p", 0.5, None),
                                                                                          ("q", None, 1)]


@settings(max_examples=max(10, settings().max_examples // 2))
@given(valid_specs(max_spatial=4), valid_specs(max_spatial=4))
def test_every_layer_is_accounted_for_once(data_a, data_b):
    a, b = parse_network(to_yaml(data_a), "a.yaml"), parse_network(to_yaml(data_b), "b.yaml")
    assert not diff_networks(a, a).differs
    report = diff_networks(a, b)
    in_a = sorted(layer.index_a for layer in report.layers if layer.index_a is not None)
    in_b = sorted(layer.index_b for layer in report.layers if layer.index_b is not None)
    assert len(set(in_a)) == len(in_a) and len(in_a) + report.unchanged == len(a.layers)
    assert len(set(in_b)) == len(in_b) and len(in_b) + report.unchanged == len(b.layers)
    assert [layer.index_b for layer in report.layers if layer.index_b is not None] == in_b  # listed in B's order
    for total in ("params", "buffers", "macs"):
        assert report.totals[total].delta == sum(getattr(layer, total).delta for layer in report.layers)
    for layer in report.layers:
        if layer.status in ("changed", "renamed", "moved"):
            assert a.layers[layer.index_a].type == b.layers[layer.index_b].type or \
                ("type", layer.type_a, layer.type_b) in [(f.field, f.before, f.after) for f in layer.fields]


@pytest.fixture
def run():
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("diff")(diff_command)
    app.command("other")(lambda: None)  # two commands, so the command name is an argument as in alexspec
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["diff", *map(str, args)])


LENET = SPECS_DIR / "lenet5.yaml"
# f6: 120 -> 84 features then output: 84 -> 10. With 42 neurons: f6 loses 42 * (120 + 1), output 10 * 42 weights.
F6_42 = -(42 * 121) - 10 * 42


def test_command_table_json_set_and_exit_code(run):
    result = run(LENET, LENET)
    assert result.exit_code == 0 and "no differences" in result.stdout
    result = run(LENET, LENET, "--set", "f6.out_features=42", "--json")
    assert result.exit_code == 1  # a difference, as diff(1) reports one
    data = json.loads(result.stdout)
    assert [(layer["name"], layer["status"]) for layer in data["layers"]] == [("f6", "changed"), ("output", "changed")]
    assert data["layers"][0]["fields"] == [{"field": "out_features", "before": 84, "after": 42}]
    assert data["layers"][1]["fields"] == [{"field": "in_features", "before": 84, "after": 42}]
    assert data["totals"]["params"] == {"a": 61_706, "b": 61_706 + F6_42, "delta": F6_42}
    result = run(LENET, LENET, "--set-a", "f6.out_features=42", "--json")  # --set-a changes A only
    assert result.exit_code == 1 and json.loads(result.stdout)["totals"]["params"]["delta"] == -F6_42
    result = run(SPECS_DIR / "alexnet.yaml", SPECS_DIR / "alexnet_1gpu.yaml")
    assert result.exit_code == 1
    for text in ("conv2", "groups: 2 → 1", "+307,200", "+1,413,120", "60,965,224", "62,378,344", "[gpu0, gpu1]"):
        assert text in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80  # CliRunner's terminal: 80 columns


def test_command_writes_the_report_to_a_file(run, tmp_path):
    result = run(LENET, LENET, "--set", "f6.out_features=42", "-o", tmp_path / "diff.txt")
    assert result.exit_code == 1 and result.stdout == ""
    assert "out_features: 84 → 42" in (tmp_path / "diff.txt").read_text()


def test_command_bad_path_is_a_located_error(run, tmp_path):
    result = run(LENET, tmp_path / "nothere.yaml")
    assert result.exit_code == 2
    assert f"{tmp_path / 'nothere.yaml'}: error: no such file" in result.stderr and result.stdout == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\ninput: {channels: 1, height: 4, width: 4}\nlayers:\n  - {type: conv, kernel: 3}\n")
    result = run(bad, LENET)
    assert result.exit_code == 2 and f"{bad}:4:" in result.stderr and "out_channels" in result.stderr



def test_spelling_that_resolves_to_the_same_meaning_is_no_change():
    a = small("{type: conv, name: c1, out_channels: 8, kernel: 3, stride: 1, padding: same}",
              "{type: lrn, name: n1, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: paper}",
              "{type: batchnorm, name: b1, eps: 1.0e-5}")
    # padding: same at stride 1 with a 3x3 kernel is 1 on every side (TensorFlow's rule); depth_radius 2 is n = 5;
    # caffe's alpha is divided by n, so 5e-4 under caffe is the paper's 1e-4; eps as float32 stores it.
    b = small("{type: conv, name: c1, out_channels: 8, kernel: 3, stride: 1, padding: [1, 1, 1, 1]}",
              "{type: lrn, name: n1, depth_radius: 2, alpha: 5.0e-4, beta: 0.75, k: 2, convention: caffe}",
              "{type: batchnorm, name: b1, eps: 9.999999747378752e-06}")
    report = diff_networks(a, b)
    assert not report.differs and report.unchanged == 3
    # The same spellings with a real change are reported, with the resolved values.
    c = small("{type: conv, name: c1, out_channels: 8, kernel: 3, stride: 1, padding: 0}",
              "{type: lrn, name: n1, size: 5, alpha: 1.0e-4, beta: 0.75, k: 2, convention: caffe}",
              "{type: batchnorm, name: b1, eps: 1.001e-5}")
    changes = {layer.name: [(f.field, f.before, f.after) for f in layer.fields] for layer in diff_networks(a, c).layers}
    assert changes["c1"] == [("padding", [1, 1, 1, 1], [0, 0, 0, 0])]
    assert changes["n1"] == [("scale", 1e-4, pytest.approx(1e-4 / 5))]
    assert changes["b1"] == [("eps", 1e-5, 1.001e-5)]  # one part in a thousand is far beyond float32 rounding


def test_floats_equal_within_one_float32_step():
    import numpy as np

    from alexnet_spec.tools.diff import same_value

    for value in (1e-5, 0.75, 1e-4, 3.0e38, 1.0):
        assert same_value(value, float(np.float32(value)))  # what a float32 round trip gives back
        assert not same_value(value, float(np.nextafter(np.nextafter(np.float32(value), np.inf), np.inf)))
    assert not same_value(True, 1) and not same_value(0, False) and same_value([1, 2.0], [1, 2])


def test_graph_networks_compare_by_qualified_name_and_edges(tmp_path):
    from alexnet_spec.tools.diff import diff_networks
    from tests.passes.test_graph import FIRE, RESIDUAL
    from tests.conftest import resolve_text

    same = diff_networks(resolve_text(RESIDUAL), resolve_text(RESIDUAL))
    assert not same.differs
    swapped = diff_networks(resolve_text(FIRE), resolve_text(FIRE.replace("inputs: [c2, c1]", "inputs: [c1, c2]")))
    changed = [layer for layer in swapped.layers if layer.status == "changed"]
    assert [layer.name for layer in changed] == ["a"]
    assert any("inputs" in str(field) for field in changed[0].fields)
