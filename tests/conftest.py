"""Shared fixtures: the three SDEs and closed-form score oracles (Gaussian and Gaussian-mixture data).

For data x_0 ~ N(mu, v) per coordinate, x_t = s (x_0 + sigma z) is N(s mu, s^2 (v + sigma^2)), so every
marginal score is exact; a mixture's marginal is the mixture of its components' marginals.
"""
from __future__ import annotations

import math
import os

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning made tests 3-4x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch
from torch import Tensor

import audiodiff as ad
from audiodiff.shape import per_sample

# Tests use small tensors: one intra-op thread is fastest, and on a shared, loaded CPU a second spinning thread
# made small ops up to ~1000x slower (sqrt of 20k floats: 9 us on 1 thread, 13 ms on 2).
torch.set_num_threads(1)

SDE_NAMES = ("vp", "subvp", "ve")


def make_sde(name: str) -> ad.SDE:
    return {"vp": ad.VPSDE, "subvp": ad.SubVPSDE, "ve": ad.VESDE}[name]()


@pytest.fixture(params=SDE_NAMES)
def sde(request) -> ad.SDE:
    return make_sde(request.param)


class GaussianMixture:
    """Per-coordinate 1-D mixture sum_k w_k N(mean_k, std_k^2) with the exact score of every SDE marginal."""

    def __init__(self, means, stds, weights=None):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.stds = torch.as_tensor(stds, dtype=torch.float64)
        k = len(self.means)
        w = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.weights = w / w.sum()

    @property
    def mean(self) -> float:
        return float((self.weights * self.means).sum())

    @property
    def var(self) -> float:
        second = (self.weights * (self.stds ** 2 + self.means ** 2)).sum()
        return float(second - self.mean ** 2)

    def _marginals(self, sde: ad.SDE, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Component means and variances of p_t, shaped [K, B, 1, ...], and log weights [K, 1, ...]."""
        s, sigma = per_sample(sde.s(t), x), per_sample(sde.sigma(t), x)
        shape = (-1,) + (1,) * x.ndim
        m = self.means.to(x).reshape(shape) * s
        v = s ** 2 * (self.stds.to(x).reshape(shape) ** 2 + sigma ** 2)
        return m, v, self.weights.to(x).log().reshape(shape)

    def log_prob(self, sde: ad.SDE, x: Tensor, t: Tensor) -> Tensor:
        """Per-coordinate log p_t(x), like x."""
        m, v, logw = self._marginals(sde, x, t)
        comp = logw - 0.5 * (x - m) ** 2 / v - 0.5 * torch.log(2 * math.pi * v)
        return torch.logsumexp(comp, dim=0)

    def score(self, sde: ad.SDE):
        """The exact score callable score(x [B, ...], t [B]) of p_t under `sde`."""
        def score(x: Tensor, t: Tensor) -> Tensor:
            m, v, logw = self._marginals(sde, x, t)
            comp = logw - 0.5 * (x - m) ** 2 / v - 0.5 * torch.log(v)
            resp = torch.softmax(comp, dim=0)
            return (resp * (m - x) / v).sum(0)
        return score

    def sample(self, shape, generator: torch.Generator | None = None) -> Tensor:
        k = torch.multinomial(self.weights.float(), math.prod(shape), replacement=True, generator=generator)
        z = torch.randn(math.prod(shape), generator=generator, dtype=torch.float64)
        return (self.means[k] + self.stds[k] * z).reshape(shape).float()


def gaussian(mean: float, std: float) -> GaussianMixture:
    return GaussianMixture([mean], [std])


@pytest.fixture
def gauss() -> GaussianMixture:
    """1-D Gaussian data N(0.7, 0.4^2)."""
    return gaussian(0.7, 0.4)


@pytest.fixture
def mixture() -> GaussianMixture:
    """1-D two-mode data 0.3 N(-1, 0.2^2) + 0.7 N(1, 0.3^2)."""
    return GaussianMixture([-1.0, 1.0], [0.2, 0.3], [0.3, 0.7])

