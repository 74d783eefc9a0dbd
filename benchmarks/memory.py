"""Peak memory of a training step (forward, backward, SGD with momentum), generated against hand-written, batch 16.

    .venv/bin/python -m benchmarks.memory     (part of `make bench`)

Each model is measured in a fresh process, so nothing another model allocated is counted: two warm-up steps allocate
the gradients (kept, zeroed in place) and the momentum buffers, which both models hold alike; then the kernel's peak resident size (VmHWM) is reset through
/proc/self/clear_refs and one more step runs; its peak is VmHWM after the step minus VmRSS before it: the activations saved for the backward pass and the
temporaries of both passes. glibc's malloc
is held to a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_), so a freed activation goes back to the kernel at once
instead of staying in the heap, where a later step would reuse it unseen. Issue 23's target: generated <= 0.9× the
hand-written step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import Timing
from benchmarks.record import Row

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.9
BATCH = 16
# label -> (generated spec, the hand-written modules of benchmarks.torch_model it is compared with, image size)
PAIRS = {"torchvision layout": ("alexnet_torchvision.yaml", ("torchvision_sequential",), 224),
         "paper model": ("alexnet.yaml", ("TwoTowerAlexNet", "GroupedAlexNet"), 227)}
MiB = 2**20


def run(quick: bool = False) -> list[Row]:
    if quick:  # in-process, batch 1, one pair: the code runs; nothing is judged (other models share the process)
        spec, (hand_written,), size = PAIRS["torchvision layout"]
        started = time.perf_counter()
        peaks = [measure(spec, who, size, batch=1) for who in ("generated", hand_written)]
        return [Row("Peak memory (torch)", "torchvision layout, batch 1, training step: both measured",
                    Timing("measure", (time.perf_counter() - started,)), None, None,
                    note=f"{peaks[0] / MiB:.1f} and {peaks[1] / MiB:.1f} MiB in one process")]
    rows = []
    for label, (spec, hand_written, size) in PAIRS.items():
        ours = _in_fresh_process(spec, "generated", size)
        for who in hand_written:
            theirs = _in_fresh_process(spec, who, size)
            share = ours / theirs
            rows.append(Row("Peak memory (torch)", f"{label}, batch {BATCH}, training step: generated vs {who}",
                            None, f"<= {TARGET}×", share <= TARGET, value=f"{share:.2f}× ({ours / MiB:.0f} MiB)",
                            note=f"{who} {theirs / MiB:.0f} MiB; activations and temporaries, above the weights, "
                                 "gradients and momentum"))
    rows += saved_rows()
    return rows


def saved_rows() -> list[Row]:
    """Exact bytes a training forward keeps for the backward pass (saved_for_backward), generated against each
    hand-written module: the activations part of the peak above, without its temporaries."""
    rows = []
    for label, (spec, hand_written, size) in PAIRS.items():
        ours = sum(size for *_, size in saved_for_backward(spec, "generated", size))
        for who in hand_written:
            theirs = sum(size for *_, size in saved_for_backward(spec, who, size))
            rows.append(Row("Peak memory (torch)", f"{label}, batch {BATCH}, kept for the backward pass (exact, "
                            f"saved_tensors_hooks): generated vs {who}", None, None, None,
                            value=f"{ours / theirs:.2f}× ({ours / MiB:.1f} MiB)",
                            note=f"{who} {theirs / MiB:.1f} MiB; parameters and the input batch not counted"))
    return rows


def saved_for_backward(spec: str, who: str, size: int, batch: int = BATCH) -> list[tuple[str, tuple, int]]:
    """What one training forward saves for the backward pass, as torch.autograd.graph.saved_tensors_hooks sees it:
    (dtype, shape, bytes) per distinct storage, the parameters and the caller's batch left out (they
    exist before the step). Exact, unlike VmHWM, which also counts the temporaries of both passes."""
    import torch
    from torch import nn

    from benchmarks import torch_model

    torch.manual_seed(0)
    model = torch_model.generated(spec) if who == "generated" else getattr(torch_model, who)()
    model.train()
    x, labels = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    held = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    saved: dict[int, tuple[str, tuple, int]] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in held and storage.data_ptr() not in saved:
            saved[storage.data_ptr()] = (str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape),
                                         storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    return list(saved.values())


def measure(spec: str, who: str, size: int, batch: int = BATCH) -> int:
    """Bytes the third training step adds at its peak to what the process held before it; `who` is "generated"
    (the build of `spec`) or the name of a hand-written module in benchmarks.torch_model."""
    import torch
    from torch import nn

    from benchmarks import torch_model

    torch.manual_seed(0)
    model = torch_model.generated(spec) if who == "generated" else getattr(torch_model, who)()
    model.train()
    x, labels = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad(set_to_none=False)  # gradients stay allocated: the peak is what the model adds
        nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()

    step()
    step()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS (Linux 4.0 and later)
    before = _status_bytes("VmRSS")
    step()
    return _status_bytes("VmHWM") - before


def _status_bytes(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB$", text, re.MULTILINE).group(1)) * 1024


def _in_fresh_process(spec: str, who: str, size: int) -> int:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--one", spec, who, str(size)],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["peak_bytes"]


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        spec, who, size = argv[1:]
        print(json.dumps({"peak_bytes": measure(spec, who, int(size))}))
        return
    from benchmarks import record

    print(record.markdown(run(), "python -m benchmarks.memory", record.machine(), None))


if __name__ == "__main__":
    main(sys.argv[1:])
