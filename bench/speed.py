#!/usr/bin/env python
"""Speed of audiodiff's UNet1d against the 1D waveform U-Nets of audio-diffusion-pytorch and diffusers.

Every network is timed in the same process, interleaved (A B C ... then again, the order rotated each round)
after warm-up, so load from other users of a shared machine hits all of them alike; a speed-up is the median
over rounds of the per-round ratio t_peer / t_audiodiff. Measured per network, mono, 16384 samples, batch 4:

  train   one training step: forward, denoising MSE loss, backward, AdamW step       -> samples/s
  nfe     one network evaluation under no_grad (the cost of one sampler step)         -> ms
  flops   forward and forward+backward FLOPs per sample (torch.utils.flop_counter)
  rate    achieved FLOP/s, as a fraction of the fp32 and bf16 matmul rate measured in every round
  memory  peak resident memory of each job above the built net, in a fresh subprocess on CPU (torch's
          allocations are invisible to tracemalloc); torch.cuda.max_memory_allocated on CUDA

Sizes match parameter counts (~2M, 8M, 30M). Where a peer spends far more FLOPs per sample than audiodiff at
equal parameters, an audiodiff row matched on FLOPs is added, so both the architecture's and the
implementation's share of a speed-up are visible. Peers come from the optional extra `bench`; missing ones are
reported as absent, never an error.

    python bench/speed.py --quick                      # smallest size, < 5 min on 2 cores
    python bench/speed.py --out bench/results/cpu.json # all sizes, markdown + JSON
    python bench/speed.py --device cuda                # bf16 autocast, MFU against the measured bf16 peak
"""
from __future__ import annotations

import os

# Set before torch loads OpenMP: idle threads sleep instead of spinning, which on a shared 2-core machine
# otherwise steals the cores the other thread (and other processes) need.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib
import importlib.metadata
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from audiodiff.nets import UNet1d
from audiodiff.shape import per_sample

AD, ADP, DD = "audiodiff", "audio_diffusion_pytorch", "diffusers"
PEERS = (ADP, DD)
LENGTH, BATCH = 16384, 4  # 1.024 s of 16 kHz mono per sample


@dataclass(frozen=True)
class Spec:
    """One network of a size: its family, constructor config, and (audiodiff only) the peer matched on FLOPs."""

    label: str
    family: str
    config: dict[str, Any]
    flops_match: str | None = None  # None: the parameter-matched audiodiff row


def _adp(channels, items, heads, features, modulation) -> dict[str, Any]:
    """UNetV0 config: factors (1,4,4,4,2,2), attention on the two deepest levels (the library's layout)."""
    return dict(channels=channels, factors=[1, 4, 4, 4, 2, 2], items=items, attentions=[0, 0, 0, 0, 1, 1],
                attention_heads=heads, attention_features=features, modulation_features=modulation)


# Parameters / forward GFLOP per 16384-sample clip are printed by every run; at the time of writing:
SIZES: dict[str, list[Spec]] = {
    "tiny": [Spec("audiodiff tiny", AD, dict(preset="tiny"))],  # smoke test only
    "2M": [  # audiodiff 2.14M / 1.05, UNetV0 2.01M / 0.88, UNet1DModel 2.17M / 5.09, FLOP-matched 2.22M / 5.07
        Spec("audiodiff small", AD, dict(preset="small")),
        Spec("audiodiff small f=(2,2,2,4)", AD, dict(preset="small", factors=[2, 2, 2, 4]), flops_match=DD),
        Spec("UNetV0", ADP, _adp([8, 32, 64, 96, 128, 128], [1, 1, 2, 2, 2, 1], 4, 32, 128)),
        Spec("UNet1DModel", DD, dict(block_out_channels=[16, 16, 32, 32, 64, 64, 96])),
    ],
    "8M": [  # 8.25M / 2.05, UNetV0 8.13M / 2.03, UNet1DModel 8.62M / 16.7, FLOP-matched 8.19M / 15.2
        Spec("audiodiff base", AD, dict(preset="base")),
        Spec("audiodiff base f=(1,2,4,4)", AD, dict(preset="base", factors=[1, 2, 4, 4]), flops_match=DD),
        Spec("UNetV0", ADP, _adp([8, 32, 64, 128, 256, 256], [1, 2, 2, 2, 2, 2], 4, 64, 256)),
        Spec("UNet1DModel", DD, dict(block_out_channels=[32, 32, 64, 64, 128, 128, 192])),
    ],
    # large 31.5M / 5.09, UNetV0 32.3M / 7.94, UNet1DModel 30.6M / 27.8; FLOP-matched 33.0M / 8.16 and 32.7M / 30.4
    "30M": [
        Spec("audiodiff large", AD, dict(preset="large")),
        Spec("audiodiff base x2 width", AD, dict(preset="base", channels=[128, 256, 512, 640], emb_channels=512),
             flops_match=ADP),
        Spec("audiodiff base x2 width f=(2,2,4,4)", AD,
             dict(preset="base", channels=[128, 256, 512, 640], emb_channels=512, factors=[2, 2, 4, 4]),
             flops_match=DD),
        Spec("UNetV0", ADP, _adp([16, 64, 128, 256, 512, 512], [1, 2, 2, 2, 2, 2], 8, 64, 512)),
        Spec("UNet1DModel", DD, dict(block_out_channels=[32, 32, 64, 64, 128, 256, 416])),
    ],
}


def peer_status(families: tuple[str, ...] = PEERS) -> dict[str, str | None]:
    """None for each peer that imports, else the reason it does not (so a run says so instead of failing)."""
    status = {}
    for name in families:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
            status[name] = None
        except Exception as e:  # ImportError, or a peer broken by its own dependencies
            status[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
    return status


# (module, x_t [B,1,L], t [B]) -> estimate of x_0: each network's own time conditioning
Call = Callable[[Callable, torch.Tensor, torch.Tensor], torch.Tensor]


def build(spec: Spec) -> tuple[torch.nn.Module, Call]:
    """The network of `spec` and a uniform call(net, x_t, t), t in (0, 1]; `net` may be the compiled module."""
    if spec.family == AD:
        config = dict(spec.config)
        net = UNet1d.preset(config.pop("preset"), 1, **config)
        with torch.no_grad():  # zero-initialised head: give it trained-like weights so all gradients are nonzero
            net.out_conv.weight.normal_(0.0, 0.01)
        return net, lambda m, x, t: m(x, t.log() / 4)  # EDM c_noise = log(sigma) / 4 with sigma = t
    if spec.family == ADP:
        from audio_diffusion_pytorch import UNetV0
        net = UNetV0(dim=1, in_channels=1, **spec.config)
        return net, lambda m, x, t: m(x, time=t)
    if spec.family == DD:
        from diffusers import UNet1DModel
        n = len(spec.config["block_out_channels"])
        # the Dance Diffusion layout (harmonai): attention on the three deepest levels, Fourier time features
        net = UNet1DModel(sample_size=LENGTH, in_channels=1, out_channels=1, extra_in_channels=16,
                          time_embedding_type="fourier", flip_sin_to_cos=True, use_timestep_embedding=False,
                          block_out_channels=tuple(spec.config["block_out_channels"]),
                          down_block_types=("DownBlock1DNoSkip",) + ("DownBlock1D",) * (n - 4)
                          + ("AttnDownBlock1D",) * 3,
                          up_block_types=("AttnUpBlock1D",) * 3 + ("UpBlock1D",) * (n - 4) + ("UpBlock1DNoSkip",),
                          mid_block_type="UNetMidBlock1D", act_fn=None)
        return net, lambda m, x, t: m(x, t).sample
    raise ValueError(f"family must be one of {AD, *PEERS}, got {spec.family!r}")


class Job:
    """A built network with its optimizer and fixed inputs; .train() and .nfe() are the timed units of work."""

    def __init__(self, spec: Spec, *, device: torch.device, bf16: bool, compile: bool = False,
                 batch: int = BATCH, seed: int = 0):
        torch.manual_seed(seed)
        self.spec, self.device, self.bf16 = spec, device, bf16
        net, self.call = build(spec)
        self.net = net.to(device)
        # torch.compile (inductor) for every network alike; the first calls (warm-up) pay for the compilation
        self.module = torch.compile(self.net) if compile else self.net
        self.params = sum(p.numel() for p in self.net.parameters())
        # the optimizer audiodiff's Trainer runs (fused: one kernel for all parameters), for every network
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4, fused=True)
        g = torch.Generator().manual_seed(seed)
        self.x0 = (0.3 * torch.randn(batch, 1, LENGTH, generator=g)).to(device)
        self.t = torch.rand(batch, generator=g).clamp_min(1e-3).to(device)
        self.xt = self.x0 + per_sample(self.t, self.x0) * torch.randn(batch, 1, LENGTH, generator=g).to(device)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def loss(self, n: int | None = None, module: Callable | None = None) -> torch.Tensor:
        """Denoising score matching (Vincent 2011) as x_0 regression: mean |D(x_t, t) - x_0|^2."""
        with self._autocast():
            d = self.call(module or self.module, self.xt[:n], self.t[:n])
        return (d.float() - self.x0[:n]).square().mean()

    def train(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss().backward()
        self.opt.step()

    def nfe(self) -> None:
        with torch.no_grad(), self._autocast():
            self.call(self.module, self.xt, self.t)

    def flops(self) -> tuple[int, int]:
        """(forward, forward + backward) FLOPs for one sample, counted by torch's FlopCounterMode on the eager
        network (compilation changes how the work is done, not how much)."""
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            self.call(self.net, self.xt[:1], self.t[:1])
        forward = fc.get_total_flops()
        with FlopCounterMode(display=False) as fc:
            self.loss(1, self.net).backward()
        self.net.zero_grad(set_to_none=True)
        return forward, fc.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


class Matmul:
    """A square matmul whose rate in the same round is the 'peak' the networks' FLOP/s are compared with."""

    def __init__(self, dtype: torch.dtype, device: torch.device):
        # grow n to the largest size (2048 on CPU) while one call stays short: a CPU without bf16 units
        # multiplies bf16 at ~1 GFLOP/s, where one 2048^3 product would take half a minute per round
        top = 2048 if device.type == "cpu" else 8192
        n = 256 if device.type == "cpu" else top
        while True:
            self.a, self.b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
            self.flops = 2 * n ** 3
            self()
            start = time.perf_counter()
            self()
            sync(device)
            if n >= top or time.perf_counter() - start > 0.05:
                break
            n *= 2

    def __call__(self) -> None:
        self.a @ self.b


def _cpu_ticks() -> dict[int, tuple[int, str]]:
    """user + system clock ticks and command line of every process, from /proc."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out[int(pid)] = (int(fields[11]) + int(fields[12]), cmd)
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return out


def load_snapshot(interval: float = 0.5) -> dict[str, Any]:
    """Load average and the other processes busiest over the next `interval` s: what shared the machine."""
    top = []
    try:
        before = _cpu_ticks()
        time.sleep(interval)
        after = _cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        busy = sorted(((ticks - before[pid][0]) / hz / interval, pid, cmd) for pid, (ticks, cmd) in after.items()
                      if pid in before and pid != os.getpid())
        top = [f"{pid} {100 * cpu:.0f}% {cmd[:100]}" for cpu, pid, cmd in reversed(busy[-5:]) if cpu > 0.05]
    except OSError:  # no /proc: the load average alone
        pass
    return dict(time=time.strftime("%H:%M:%S", time.gmtime()), loadavg=[round(v, 2) for v in os.getloadavg()],
                top=top)


def _status_mib(field: str) -> float:
    """A field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident since the last reset) in MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def memory_worker(spec: Spec, *, bf16: bool, threads: int, compile: bool = False) -> dict[str, float]:
    """In a fresh process: peak resident memory (MiB) of nfe and of train above the built net with its inputs.

    Linux resets the peak (VmHWM) to the current RSS when 5 is written to /proc/self/clear_refs, so each job's
    peak is its own, not the import's; ru_maxrss cannot be reset and is the fallback (then nfe runs first,
    being the smaller, and the train figure is the larger of the two).
    """
    torch.set_num_threads(threads)
    job = Job(spec, device=torch.device("cpu"), bf16=bf16, compile=compile)
    if compile:  # compile both graphs first: the compiler's own memory is not the job's
        job.nfe()
        job.train()
    base, out = _status_mib("VmRSS"), {"method": "VmHWM after clear_refs"}
    for name in ("nfe", "train"):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            peak = lambda: _status_mib("VmHWM")
        except OSError:
            out["method"] = "ru_maxrss"
            peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        for _ in range(2):  # a first step also allocates AdamW's moments: part of training's footprint
            getattr(job, name)()
        out[f"{name}_mib"] = round(max(peak() - base, 0.0), 1)
    return out


def peak_memory(spec: Spec, *, device: torch.device, bf16: bool, threads: int, job: Job | None,
                compile: bool = False) -> dict:
    """Peak memory of nfe and train: a subprocess on CPU, the CUDA allocator's peak on a GPU."""
    if device.type == "cuda":
        out = {}
        for name in ("nfe", "train"):
            sync(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            getattr(job, name)()
            sync(device)
            out[f"{name}_mib"] = round((torch.cuda.max_memory_allocated(device) - base) / 2 ** 20, 1)
        return out
    arg = json.dumps(dict(label=spec.label, family=spec.family, config=spec.config, flops_match=spec.flops_match,
                          bf16=bf16, threads=threads, compile=compile))
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-worker", arg],
                          capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        raise RuntimeError(f"memory worker for {spec.label} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quartiles(values: list[float]) -> list[float]:
    """[q1, median, q3] of `values` (all three equal for a single value)."""
    if len(values) < 2:
        return [values[0]] * 3
    q = statistics.quantiles(values, n=4, method="inclusive")
    return [q[0], statistics.median(values), q[2]]


def measure_size(size: str, specs: list[Spec], *, device: torch.device, bf16: bool, rounds: int, warmup: int,
                 threads: int, memory: bool = True, compile: bool = False,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Interleaved timings, FLOPs, rates and memory of every network in `specs`, and audiodiff/peer ratios."""
    jobs = [Job(s, device=device, bf16=bf16, compile=compile) for s in specs]
    peaks = {"fp32": Matmul(torch.float32, device), "bf16": Matmul(torch.bfloat16, device)}
    rows = []
    for job in jobs:
        forward, train = job.flops()
        rows.append(dict(label=job.spec.label, family=job.spec.family, flops_match=job.spec.flops_match,
                         params=job.params, fwd_gflop=forward / 1e9, train_gflop=train / 1e9))
        log(f"{size} {job.spec.label}: {job.params:,} parameters, {forward / 1e9:.3f} GFLOP forward / "
            f"{train / 1e9:.3f} GFLOP train per sample")
    load = [load_snapshot()]
    times: dict[str, list[list[float]]] = {}
    peak_times: dict[str, dict[str, list[float]]] = {}
    for kind in ("train", "nfe"):
        for _ in range(warmup):
            for job in jobs:
                getattr(job, kind)()
            for mm in peaks.values():
                timed(mm, device)
        times[kind] = [[] for _ in jobs]
        peak_times[kind] = {p: [] for p in peaks}
        for r in range(rounds):
            for p, mm in peaks.items():
                peak_times[kind][p].append(timed(mm, device))
            for i in [(r + k) % len(jobs) for k in range(len(jobs))]:  # rotate the order: no fixed position
                times[kind][i].append(timed(getattr(jobs[i], kind), device))
        load.append(load_snapshot())
        log(f"{size} {kind}: " + ", ".join(f"{j.spec.label} {statistics.median(t) * 1e3:.0f} ms"
                                           for j, t in zip(jobs, times[kind])) + f"  load {load[-1]['loadavg']}")
    for i, (job, row) in enumerate(zip(jobs, rows)):
        for kind, gflop in (("train", row["train_gflop"]), ("nfe", row["fwd_gflop"])):
            t = times[kind][i]
            row[f"{kind}_ms"] = statistics.median(t) * 1e3
            rate = [BATCH * gflop * 1e9 / s for s in t]
            row[f"{kind}_gflops"] = statistics.median(rate) / 1e9
            for p, mm in peaks.items():  # per-round fraction of the same round's matmul rate
                frac = [r_ * s_p / mm.flops for r_, s_p in zip(rate, peak_times[kind][p])]
                row[f"{kind}_frac_{p}_peak"] = statistics.median(frac)
        row["train_samples_per_s"] = BATCH / (row["train_ms"] / 1e3)
        if memory:
            row.update(peak_memory(job.spec, device=device, bf16=bf16, threads=threads, job=job, compile=compile))
    peak = {f"{p}_gflops": statistics.median(mm.flops / s for s in peak_times["train"][p] + peak_times["nfe"][p])
            / 1e9 for p, mm in peaks.items()}
    ratios = []
    for i, spec in enumerate(specs):
        if spec.family == AD:
            continue
        for j, ours in enumerate(specs):
            if ours.family != AD or ours.flops_match not in (None, spec.family):
                continue
            entry = dict(peer=spec.family, peer_label=spec.label, audiodiff_label=ours.label,
                         matched_on="params" if ours.flops_match is None else "flops",
                         params_ratio=rows[j]["params"] / rows[i]["params"],
                         flops_ratio=rows[j]["fwd_gflop"] / rows[i]["fwd_gflop"])
            for kind in ("train", "nfe"):
                entry[f"{kind}_speedup_q"] = quartiles([b / a for a, b in zip(times[kind][j], times[kind][i])])
                entry[f"{kind}_speedup"] = entry[f"{kind}_speedup_q"][1]
            ratios.append(entry)
    return dict(size=size, rows=rows, ratios=ratios, matmul_peak=peak, load=load)


def environment(device: torch.device, *, bf16: bool, threads: int, rounds: int, warmup: int,
                compile: bool = False) -> dict[str, Any]:
    """What the numbers depend on: hardware, software, threads and settings."""
    cpu, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
        flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma", "avx_vnni"))
    env = dict(cpu=cpu, cpu_simd=simd, cores=os.cpu_count(), torch=torch.__version__,
               python=platform.python_version(), device=str(device),
               precision="bf16 autocast" if bf16 else "fp32", threads=threads, compile=compile,
               omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), batch=BATCH, length=LENGTH,
               rounds=rounds, warmup=warmup, command=" ".join([os.path.basename(sys.executable), *sys.argv]))
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    for name in PEERS:
        try:
            env[f"{name}_version"] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            pass
    return env


def markdown(result: dict[str, Any]) -> str:
    """The run as markdown: one table of networks and one of audiodiff/peer speed-ups per size."""
    env, lines = result["environment"], []
    simd = f"; {' '.join(env['cpu_simd']) or 'no AVX2'}" if env.get("cpu_simd") is not None else ""
    lines.append(f"{env['cpu']} ({env['cores']} cores{simd}{', ' + env['gpu'] if 'gpu' in env else ''}), torch "
                 f"{env['torch']}, {env['threads']} threads, {env['precision']}"
                 f"{', torch.compile (every network)' if env.get('compile') else ''}, OMP_WAIT_POLICY="
                 f"{env['omp_wait_policy']}, batch {env['batch']} x {env['length']} samples, median of "
                 f"{env['rounds']} interleaved rounds after {env['warmup']} warm-up")
    versions = [f"{p} {env[p + '_version']}" for p in PEERS if p + "_version" in env]
    if versions:
        lines.append("\npeers: " + ", ".join(versions))
    if env["precision"] != "fp32":
        lines.append("\nMFU = the bf16 column: achieved FLOP/s over the bf16 matmul rate measured in the same "
                     "round.")
    for name, why in result["peers"].items():
        if why:
            lines.append(f"\n**{name} absent** ({why}): install the `bench` extra to compare with it.")
    for sr in result["sizes"]:
        pk = sr["matmul_peak"]
        lines += ["", f"### {sr['size']}  (matmul peak in this run: fp32 {pk['fp32_gflops']:.3g} GFLOP/s, bf16 "
                      f"{pk['bf16_gflops']:.3g} GFLOP/s; load average {sr['load'][0]['loadavg'][0]} -> "
                      f"{sr['load'][-1]['loadavg'][0]})", "",
                  "| network | params | GFLOP/sample fwd | train samples/s | train ms/step | NFE ms (batch 4) "
                  "| train GFLOP/s (fp32 / bf16 peak) | NFE GFLOP/s (fp32 / bf16 peak) | peak MiB train / NFE |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        # without bf16 units (bf16 matmuls slower than fp32) a fraction of the bf16 rate means nothing
        has_bf16 = pk["bf16_gflops"] >= pk["fp32_gflops"]
        for r in sr["rows"]:
            mem = f"{r['train_mib']:.0f} / {r['nfe_mib']:.0f}" if "train_mib" in r else "-"
            frac = {job: f"{r[job + '_frac_fp32_peak']:.0%} / "
                         + (f"{r[job + '_frac_bf16_peak']:.0%}" if has_bf16 else "n/a") for job in ("train", "nfe")}
            lines.append(
                f"| {r['label']} | {r['params']:,} | {r['fwd_gflop']:.2f} | {r['train_samples_per_s']:.1f} | "
                f"{r['train_ms']:.0f} | {r['nfe_ms']:.1f} | {r['train_gflops']:.0f} ({frac['train']}) | "
                f"{r['nfe_gflops']:.0f} ({frac['nfe']}) | {mem} |")
        if sr["ratios"]:
            lines += ["", "| audiodiff | peer | matched on | params ratio | FLOPs ratio | train speed-up [q1, q3] "
                          "| NFE speed-up [q1, q3] |", "|---|---|---|---:|---:|---:|---:|"]
            for q in sr["ratios"]:
                tq, nq = q["train_speedup_q"], q["nfe_speedup_q"]
                lines.append(f"| {q['audiodiff_label']} | {q['peer']} {q['peer_label']} | {q['matched_on']} | "
                             f"{q['params_ratio']:.2f} | {q['flops_ratio']:.2f} | **{tq[1]:.2f}** [{tq[0]:.2f}, "
                             f"{tq[2]:.2f}] | **{nq[1]:.2f}** [{nq[0]:.2f}, {nq[2]:.2f}] |")
        lines += ["", "load: " + "; ".join(f"{s['time']} {s['loadavg']}" for s in sr["load"]),
                  "other busy processes (CPU over 0.5 s) at start: " + " | ".join(sr["load"][0]["top"][:4]),
                  "... and at the end: " + " | ".join(sr["load"][-1]["top"][:4])]
    return "\n".join(lines)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per peer, from the smallest size measured: parameter-matched speed-ups (+ FLOP-matched)."""
    lines = []
    for peer, why in result["peers"].items():
        found = [q for sr in result["sizes"] for q in sr["ratios"] if q["peer"] == peer]
        if why or not found:
            lines.append(f"train_speedup_vs_{peer}=n/a sample_speedup_vs_{peer}=n/a  # absent: {why or 'no size'}")
            continue
        size = next(sr["size"] for sr in result["sizes"] if any(q["peer"] == peer for q in sr["ratios"]))
        by = {q["matched_on"]: q for sr in result["sizes"] if sr["size"] == size for q in sr["ratios"]
              if q["peer"] == peer}
        line = (f"train_speedup_vs_{peer}={by['params']['train_speedup']:.2f} "
                f"sample_speedup_vs_{peer}={by['params']['nfe_speedup']:.2f}")
        if "flops" in by:
            line += (f" flop_matched_train_speedup_vs_{peer}={by['flops']['train_speedup']:.2f} "
                     f"flop_matched_sample_speedup_vs_{peer}={by['flops']['nfe_speedup']:.2f}")
        lines.append(line + f"  # size {size}")
    return lines


def run(sizes: list[str], *, device: str = "cpu", bf16: bool | None = None, rounds: int = 9, warmup: int = 2,
        threads: int | None = None, peers: tuple[str, ...] = PEERS, memory: bool = True, compile: bool = False,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every size; networks of absent peers are left out and the peer is reported absent."""
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise ValueError(f"sizes must be among {list(SIZES)}, got {unknown}")
    dev = torch.device(device)
    bf16 = dev.type == "cuda" if bf16 is None else bf16
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    status = {p: (peer_status((p,))[p] if p in peers else "not requested") for p in PEERS}
    if compile:
        warmup = max(warmup, 1)  # the first calls compile: never time them
    result = dict(environment=environment(dev, bf16=bf16, threads=threads, rounds=rounds, warmup=warmup,
                                          compile=compile),
                  peers=status, sizes=[])
    for name, why in status.items():
        log(f"peer {name}: {'present' if why is None else 'absent (' + why + ')'}")
    for size in sizes:
        specs = [s for s in SIZES[size] if s.family == AD or status[s.family] is None]
        result["sizes"].append(measure_size(size, specs, device=dev, bf16=bf16, rounds=rounds, warmup=warmup,
                                            threads=threads, memory=memory, compile=compile,
                                            log=log))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest size (2M), 11 rounds, 1 warm-up")
    parser.add_argument("--sizes", default="2M,8M,30M", help=f"comma-separated, among {list(SIZES)}")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda: bf16 autocast, MFU)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="autocast dtype for every network (default: fp32 on CPU, bf16 on CUDA)")
    parser.add_argument("--rounds", type=int, default=None, help="timed interleaved rounds (default 9, quick 11)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 2, quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--peers", default=",".join(PEERS), help="peers to compare with ('' for none)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--compile", action="store_true", help="torch.compile every network (inductor)")
    parser.add_argument("--out", default=None, help="write JSON here and markdown next to it (.md)")
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_worker:
        spec = json.loads(args.memory_worker)
        bf16, threads, compile = spec.pop("bf16"), spec.pop("threads"), spec.pop("compile", False)
        print(json.dumps(memory_worker(Spec(**spec), bf16=bf16, threads=threads, compile=compile)))
        return
    sizes = ["2M"] if args.quick else [s for s in args.sizes.split(",") if s]
    if not sizes or any(s not in SIZES for s in sizes):
        raise SystemExit(f"--sizes must be among {list(SIZES)}, got {args.sizes!r}")
    rounds = args.rounds or (11 if args.quick else 9)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if rounds < 1 or warmup < 0:
        raise SystemExit("--rounds must be >= 1 and --warmup >= 0")
    peers = tuple(p for p in args.peers.split(",") if p)
    bad = [p for p in peers if p not in PEERS]
    if bad:
        raise SystemExit(f"--peers must be among {list(PEERS)}, got {bad}")
    bf16 = None if args.precision is None else args.precision == "bf16"
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (set before torch was imported)", flush=True)
    start = time.time()
    result = run(sizes, device=args.device, bf16=bf16, rounds=rounds, warmup=warmup, threads=args.threads,
                 peers=peers, memory=not args.no_memory, compile=args.compile, log=lambda s: print(s, flush=True))
    result["environment"]["wall_s"] = round(time.time() - start, 1)
    text = markdown(result)
    print("\n" + text + "\n")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
            f.write(text + "\n")
    print(f"wall time {result['environment']['wall_s']:.0f} s")
    for line in summary_lines(result):
        print(line)


if __name__ == "__main__":
    main()
