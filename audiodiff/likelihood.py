"""Exact likelihood through the probability-flow ODE (Song et al. 2021, Sec. 4.3 and App. D.2).

Along the PF ODE dx/dt = f~(x, t) the density obeys d log p_t(x(t)) / dt = -div f~, so
    log p_0(x_0) = log p_T(x(T)) + int_0^T div f~(x(t), t) dt.
The divergence is exact (one vector-Jacobian product per dimension: small data only) or Hutchinson's unbiased
estimate E[v^T (df~/dx) v] with one fixed probe v (Rademacher or Gaussian) per solve (Grathwohl et al. 2019).
The integral starts at t = eps (the data are taken as x_eps), as in score_sde. The prior N(0, prior_std^2 I)
stands in for p_T: data far from the origin relative to s(T) and prior_std (VE: sigma_max) bias the result by
about |s(T) mean| / prior_std nats per dimension (measured in tests/test_likelihood.py).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .sampling import solve_ode
from .sde import SDE, Score, check_finite
from .shape import batch_times

TRACES = ("hutchinson", "exact")
PROBES = ("rademacher", "gaussian")


def _divergence(drift: Tensor, x: Tensor, probe: Tensor | None) -> Tensor:
    """div_x drift per example [B]: exact if probe is None, else Hutchinson v^T J v (graph of drift on x)."""
    if probe is not None:
        (vjp,) = torch.autograd.grad(drift, x, probe)
        return (vjp * probe).flatten(1).sum(1)
    flat = drift.flatten(1)
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for j in range(flat.shape[1]):  # examples are independent, so d(sum_b f_bj)/dx_bj is each example's J_jj
        (grad,) = torch.autograd.grad(flat[:, j].sum(), x, retain_graph=j + 1 < flat.shape[1])
        div = div + grad.flatten(1)[:, j]
    return div


def log_likelihood(score: Score, sde: SDE, x0: Tensor, *, generator: torch.Generator | None = None,
                   eps: float = 1e-5, rtol: float = 1e-5, atol: float = 1e-5, trace: str = "hutchinson",
                   probe: str = "rademacher") -> Tensor:
    """log p_0(x0) in nats per example via the PF ODE and RK45: x0 [B, ...] -> [B]; `score` must be differentiable."""
    check_finite(x0, "x0")
    if not 0 < eps < sde.T:
        raise ValueError(f"eps must lie in (0, T={sde.T}), got {eps}")
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {TRACES}, got {trace!r}")
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    b, n = x0.shape[0], x0[0].numel()
    v = None
    if trace == "hutchinson":
        v = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        if probe == "rademacher":
            v = v.sign()
    flow = sde.reverse(score, probability_flow=True)

    def fun(y: Tensor, t: float) -> Tensor:
        # y = [x flattened, accumulated divergence] per example: [B, n + 1]
        with torch.enable_grad():
            x = y[:, :n].reshape(x0.shape).detach().requires_grad_(True)
            drift = flow.sde(x, batch_times(t, x))[0]
            div = _divergence(drift, x, v)
        return torch.cat([drift.detach().flatten(1), div.detach()[:, None]], dim=1)

    y0 = torch.cat([x0.flatten(1), torch.zeros(b, 1, dtype=x0.dtype, device=x0.device)], dim=1)
    y1 = solve_ode(fun, y0, eps, sde.T, rtol=rtol, atol=atol)
    x_T, integral = y1[:, :n].reshape(x0.shape), y1[:, n]
    return sde.prior_logp(x_T) + integral


def bits_per_sample(score: Score, sde: SDE, x0: Tensor, **options) -> Tensor:
    """Negative log-likelihood in bits per scalar sample: -log p(x0) / (numel per example * ln 2), [B]."""
    return -log_likelihood(score, sde, x0, **options) / (x0[0].numel() * math.log(2))
