"""keep_freed_memory: a training step stops page-faulting its activations back in (measured, in a fresh process)."""
import json
import os
import subprocess
import sys

import pytest

from audiodiff.allocator import keep_freed_memory

# Minor page faults per training step of the tiny U-Net (batch 2, 16384 samples), steps 3-5 of a fresh process.
# Measured here: glibc's defaults 1664-1888 per step (the heap top is handed back and faulted in again),
# tuned 0-64.
STEPS = """
import json, resource, sys, torch
torch.set_num_threads(1)
if sys.argv[1] == "tuned":
    from audiodiff.allocator import keep_freed_memory
    assert keep_freed_memory()
from audiodiff.nets import UNet1d
torch.manual_seed(0)
net = UNet1d.preset("tiny", 1)
x = torch.randn(2, 1, 16384)
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net(x, torch.ones(2)).square().mean().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def _faults(mode: str) -> list[int]:
    # glibc's own defaults in both processes: no MALLOC_* tunables, no opt-out
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "AUDIODIFF_GLIBC"))}
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not keep_freed_memory(), reason="needs glibc's mallopt")
def test_training_steps_stop_faulting_memory_back_in():
    tuned, default = _faults("tuned")[2:], _faults("default")[2:]
    assert sum(tuned) <= 256, tuned  # at most 1 MiB faulted in over three steps
    assert sum(default) > 4 * sum(tuned) + 1000, (default, tuned)  # what the call saves


def test_idempotent():
    assert keep_freed_memory() == keep_freed_memory()
