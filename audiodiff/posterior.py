"""Posterior sampling for inverse problems y = A(x): turn any sampler and any SDE into a solver.

Strategies (none subclasses a sampler; all touch only the `score` callable or the `project` hook):
  replacement   after every step, the part of x that y determines is replaced by y noised to the step's
                time through the SDE marginal, y_t = s(t) (y + sigma(t) z) (Song et al. 2021, App. I.2;
                "data consistency" for a low-pass: the low band of x becomes that of y_t). Exact for a
                Gaussian prior whose known and unknown coordinates are independent; approximate otherwise.
  RePaint       replacement with `resample=r`: after each step, r times re-noise to the step's start time and
                redo it, so the free part harmonises with the known part (Lugmayr et al. 2022). Approximate.
  dps           reconstruction guidance: score + zeta_t grad_x(-||A(y) - A(D(x, t))||^2) with D the Tweedie
                denoiser of the score (Chung et al. 2023, Alg. 1). Approximate (D ignores the posterior
                spread of x_0 | x_t); works for non-linear A (Clip) and for the adaptive rk45 sampler.

The last step is followed by a hard data-consistency projection (`consistent=True`): for a Mask the known
samples of the result are then bit-identical to y.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .operators import LowPass, Mask, Operator
from .sampling import Project, denoise, sample
from .sde import SDE, Score

STRATEGIES = ("replacement", "dps", "dps+replacement")


def replacement(op: Operator, y: Tensor, sde: SDE, *, generator: torch.Generator | None = None) -> Project:
    """The sampler's `project(x, t)` hook replacing the known part of x by y noised to time t [B]."""
    def project(x: Tensor, t: Tensor) -> Tensor:
        mean, std = sde.marginal(y, t)
        z = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return op.project(x, mean + std * z, y)

    return project


def reconstruction_guidance(score: Score, sde: SDE, op: Operator, y: Tensor, *, zeta: float = 1.0,
                            normalize: bool = True) -> Score:
    """DPS (Chung et al. 2023): score(x, t) + zeta_t grad_x(-||A(y) - A(D(x, t))||^2), D = (x + std^2 score) / s.

    normalize=True uses Alg. 1's step size zeta_t = zeta / ||A(y) - A(D)|| per example; normalize=False keeps
    zeta_t = zeta, so zeta = 1 / (2 sigma_y^2) is the likelihood score of y ~ N(A(D), sigma_y^2 I). The guided
    score is integrated by the sampler, so a step moves x by zeta_t times the sampler's score step size
    (g^2 dt for the reverse SDE) along the gradient, not by zeta_t itself as in Alg. 1."""
    if not zeta >= 0:
        raise ValueError(f"zeta must be >= 0, got {zeta}")

    def guided(x: Tensor, t: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            sc = score(x, t)
            x0 = denoise(lambda *_: sc, sde, x, t)
            dist = op.distance(y, x0)  # [B]
            weight = zeta / dist.detach().sqrt().clamp_min(1e-12) if normalize else zeta
            (grad,) = torch.autograd.grad(-(weight * dist).sum(), x)
        return sc.detach() + grad

    return guided


def solve(score: Score, sde: SDE, op: Operator, y: Tensor, *, strategy: str = "replacement",
          sampler: str = "heun", steps: int = 50, resample: int = 0, zeta: float = 1.0, normalize: bool = True,
          consistent: bool = True, generator: torch.Generator | None = None, progress: bool = False,
          callback: Callable | None = None, **options) -> Tensor:
    """Sample x ~ p(x | A(x) = A(y)) approximately: y [B, ...] (signal space) -> x like y.

    strategy: "replacement" (RePaint when resample > 0), "dps" (zeta, normalize) or "dps+replacement";
    sampler / steps / options as in `audiodiff.sample`; consistent: finish with op.project(x, y, y)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    y = y.detach()
    project = replacement(op, y, sde, generator=generator) if "replacement" in strategy else None
    if "dps" in strategy:
        score = reconstruction_guidance(score, sde, op, y, zeta=zeta, normalize=normalize)
    x = sample(score, sde, y.shape, sampler, steps, generator=generator, device=y.device, dtype=y.dtype,
               progress=progress, callback=callback, project=project, resample=resample, **options)
    return op.project(x, y, y) if consistent else x


def inpaint(score: Score, sde: SDE, y: Tensor, known: Tensor, **options) -> Tensor:
    """Fill the samples of y [B, C, L] where `known` (bool, broadcast to y) is False; see `solve`."""
    return solve(score, sde, Mask(known), y, **options)


def extend(score: Score, sde: SDE, y: Tensor, *, cutoff_hz: float, sample_rate: float, kind: str = "fir",
           **options) -> Tensor:
    """Bandwidth extension of a waveform y [B, C, L] whose content lies below cutoff_hz; see `solve`."""
    return solve(score, sde, LowPass(cutoff_hz, sample_rate, kind=kind), y, **options)
