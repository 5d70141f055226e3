"""Denoising score matching (Vincent 2011; Song et al. 2021, eq. 7) written on the denoiser D.

With x_t = s (x_0 + sigma z) the conditional score is -z / (s sigma), and a ScoreModel's score is
(s D - x_t) / (s^2 sigma^2), so the score error is (D - x_0) / (s sigma^2) and

    lambda(t) || score - grad log p(x_t | x_0) ||^2 = lambda(t) / (s^2 sigma^4) || D - x_0 ||^2.

Weightings (the loss is the mean over non-batch dimensions, so it does not grow with clip length):
  "sigma2":     lambda = std^2 = s^2 sigma^2 (Song et al. 2021, the usual choice)  ->  ||D - x_0||^2 / sigma^2.
                In terms of the raw net F this is sigma_data^2 / (sigma^2 + sigma_data^2) ||F - F_target||^2,
                bounded by 1, so it stays well conditioned at every noise level.
  "likelihood": lambda = g(t)^2 (Song et al. 2021b, "likelihood weighting": the loss bounds the NLL)
                ->  g^2 / (s^2 sigma^4) ||D - x_0||^2.
Times per sample (`t_sampling`): "uniform" t ~ U(eps, T) (Song et al. 2021), or "lognormal": ln sigma(t) ~
N(p_mean, p_std^2) truncated to [sigma(eps), sigma(T)] (Karras et al. 2022, sec. 5). Under VP, uniform t puts
~70% of examples above sigma 1.2, where denoising is trivial, and ~3% below 0.1, where the detail and the
silences of peak-normalised audio (rms ~0.1, pauses ~0.003) live; the log-normal choice moves the training
effort there. Either choice is a weighting of the same DSM objective (lambda(t) p(t)).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .precond import ScoreModel
from .sde import check_finite
from .shape import per_sample

WEIGHTINGS = ("sigma2", "likelihood")
T_SAMPLINGS = ("uniform", "lognormal")


def sample_times(sde, b: int, *, eps: float = 1e-5, t_sampling: str = "uniform", p_mean: float = -1.2,
                 p_std: float = 1.2, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """Training times t [b] in [eps, T], by `t_sampling` (see the module docstring)."""
    if t_sampling not in T_SAMPLINGS:
        raise ValueError(f"t_sampling must be one of {T_SAMPLINGS}, got {t_sampling!r}")
    u = torch.rand(b, generator=generator, device=device, dtype=torch.float64)
    if t_sampling == "uniform":
        return (eps + (sde.T - eps) * u).to(dtype)
    if not p_std > 0:
        raise ValueError(f"p_std must be positive, got {p_std}")
    # inverse-CDF sampling of the truncated normal in ln sigma: exact, no mass piled on the ends
    ends = torch.tensor([eps, sde.T], dtype=torch.float64, device=device)
    lo, hi = ((sde.sigma(ends).log() - p_mean) / p_std).tolist()
    cdf = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    z = torch.special.ndtri(cdf(lo) + (cdf(hi) - cdf(lo)) * u)
    t = sde.sigma_inv(torch.exp(p_mean + p_std * z)).clamp(eps, sde.T)
    return t.to(dtype)


def dsm_loss_per_sample(model: ScoreModel, x0: Tensor, labels: Tensor | None = None, *,
                        weighting: str = "sigma2", generator: torch.Generator | None = None,
                        eps: float = 1e-5, t_sampling: str = "uniform", p_mean: float = -1.2,
                        p_std: float = 1.2) -> tuple[Tensor, Tensor]:
    """Per-example DSM loss: x0 [B, ...] -> (loss [B], t [B]), t drawn by `sample_times`."""
    sde = model.sde
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if not 0 < eps < sde.T:
        raise ValueError(f"eps must lie in (0, T={sde.T}), got {eps}")
    check_finite(x0, "x0")
    b = x0.shape[0]
    t = sample_times(sde, b, eps=eps, t_sampling=t_sampling, p_mean=p_mean, p_std=p_std, generator=generator,
                     device=x0.device, dtype=x0.dtype)
    z = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    s, sigma = sde.s(t), sde.sigma(t)
    x_t = per_sample(s, x0) * (x0 + per_sample(sigma, x0) * z)
    err = (model.denoise(x_t, t, labels) - x0).pow(2).flatten(1).mean(1)
    if weighting == "sigma2":
        weight = sigma ** -2
    else:
        _, g = sde.sde(x_t, t)
        weight = g ** 2 / (s ** 2 * sigma ** 4)
    return weight * err, t


def dsm_loss(model: ScoreModel, x0: Tensor, labels: Tensor | None = None, *, weighting: str = "sigma2",
             generator: torch.Generator | None = None, eps: float = 1e-5, **times) -> Tensor:
    """Scalar DSM loss: the batch mean of `dsm_loss_per_sample` (times: t_sampling, p_mean, p_std)."""
    loss, _ = dsm_loss_per_sample(model, x0, labels, weighting=weighting, generator=generator, eps=eps, **times)
    return loss.mean()
