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
Times are drawn t ~ U(eps, T) per sample.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .precond import ScoreModel
from .sde import check_finite
from .shape import per_sample

WEIGHTINGS = ("sigma2", "likelihood")


def dsm_loss_per_sample(model: ScoreModel, x0: Tensor, labels: Tensor | None = None, *,
                        weighting: str = "sigma2", generator: torch.Generator | None = None,
                        eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-example DSM loss: x0 [B, ...] -> (loss [B], t [B]) with t ~ U(eps, T)."""
    sde = model.sde
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if not 0 < eps < sde.T:
        raise ValueError(f"eps must lie in (0, T={sde.T}), got {eps}")
    check_finite(x0, "x0")
    b = x0.shape[0]
    t = eps + (sde.T - eps) * torch.rand(b, generator=generator, device=x0.device, dtype=x0.dtype)
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
             generator: torch.Generator | None = None, eps: float = 1e-5) -> Tensor:
    """Scalar DSM loss: the batch mean of `dsm_loss_per_sample`."""
    loss, _ = dsm_loss_per_sample(model, x0, labels, weighting=weighting, generator=generator, eps=eps)
    return loss.mean()
