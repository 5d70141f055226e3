"""Continuous-time noise processes of Song et al. 2021 (score SDEs): VP, sub-VP and VE.

Every process here is linear with data-independent noise, so its marginal can be written in the
scaled form of Karras et al. 2022 (eq. 10):

    x_t = s(t) * (x_0 + sigma(t) * z),   z ~ N(0, I)

VP:     s = alpha(t),  sigma = sqrt(1 - alpha^2) / alpha
sub-VP: s = alpha(t),  sigma = (1 - alpha^2) / alpha
VE:     s = 1,         sigma = sigma_min * (sigma_max / sigma_min)^t

with alpha(t) = exp(-t^2 (beta_max - beta_min) / 4 - t beta_min / 2). This module knows only the noise
process; it never imports a network. Times are tensors [B] (or floats) in (0, T].
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable

import torch
from torch import Tensor

from .shape import batch_times, per_sample

Score = Callable[[Tensor, Tensor], Tensor]


def check_finite(x: Tensor, name: str) -> None:
    """Raise ValueError naming `name` if `x` holds NaN or inf."""
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")


class SDE(ABC):
    """dx = f(x, t) dt + g(t) dW on t in [0, T]; subclasses give s(t), sigma(t) and f, g."""

    T: float = 1.0
    name: str = ""

    # --- the scaled form x_t = s (x_0 + sigma z) ---------------------------------------------
    @abstractmethod
    def s(self, t: Tensor) -> Tensor:
        """Mean scale s(t), [B]."""

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Noise level sigma(t) of x_t / s(t), [B]."""

    @abstractmethod
    def sigma_inv(self, sigma: Tensor) -> Tensor:
        """The time t with sigma(t) = sigma, [B]."""

    @abstractmethod
    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Forward SDE: drift f(x, t) (x's shape) and diffusion g(t) ([B])."""

    @property
    @abstractmethod
    def prior_std(self) -> float:
        """Per-coordinate standard deviation of the prior p_T = N(0, prior_std^2 I)."""

    @abstractmethod
    def config(self) -> dict:
        """A JSON-able description; `sde_from_config` rebuilds the process from it."""

    # --- derived, shared by every process -------------------------------------------------------
    def check_t(self, t: Tensor | float, x: Tensor) -> Tensor:
        """Validate t in (0, T] and return it as [B] matching x."""
        t = batch_times(t, x)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} entries but the batch has {x.shape[0]}")
        if not torch.isfinite(t).all() or (t <= 0).any() or (t > self.T * (1 + 1e-6)).any():
            raise ValueError(f"t must lie in (0, T={self.T}], got min {t.min().item():.4g}, max {t.max().item():.4g}")
        return t

    def marginal(self, x0: Tensor, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """x_t | x_0 ~ N(mean, std^2): mean has x0's shape, std is [B, 1, ...] broadcastable to it."""
        check_finite(x0, "x0")
        t = self.check_t(t, x0)
        s = per_sample(self.s(t), x0)
        return s * x0, s * per_sample(self.sigma(t), x0)

    def std(self, t: Tensor) -> Tensor:
        """Marginal standard deviation s(t) * sigma(t), [B]."""
        return self.s(t) * self.sigma(t)

    def transition(self, x: Tensor, t_from: Tensor | float, t_to: Tensor | float,
                   generator: torch.Generator | None = None) -> Tensor:
        """Sample x_{t_to} | x_{t_from} for t_from <= t_to (forward noising, used by RePaint resampling)."""
        t_from, t_to = batch_times(t_from, x), batch_times(t_to, x)
        s_from, s_to = self.s(t_from), self.s(t_to)
        var = (self.sigma(t_to) ** 2 - self.sigma(t_from) ** 2).clamp_min(0)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return per_sample(s_to / s_from, x) * x + per_sample(s_to * var.sqrt(), x) * z

    def prior_sample(self, shape: tuple[int, ...] | torch.Size, *, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """Draw x_T ~ N(0, prior_std^2 I) of the given shape."""
        z = torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
        return z * self.prior_std

    def prior_logp(self, z: Tensor) -> Tensor:
        """log N(z; 0, prior_std^2 I) per example, [B], in nats."""
        n = z[0].numel()
        var = self.prior_std ** 2
        return -0.5 * n * math.log(2 * math.pi * var) - z.flatten(1).pow(2).sum(1) / (2 * var)

    def reverse(self, score: Score, probability_flow: bool = False) -> "ReverseSDE":
        """The reverse-time SDE (Song et al. 2021, eq. 6) or probability-flow ODE (eq. 13) for `score`."""
        return ReverseSDE(self, score, probability_flow)


class ReverseSDE:
    """dx = [f - c g^2 score] dt + [c' g] dW-bar, run from T to 0 (c = 1, c' = 1; or ODE: c = 1/2, c' = 0)."""

    def __init__(self, forward: SDE, score: Score, probability_flow: bool):
        self.forward, self.score, self.probability_flow = forward, score, probability_flow

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Reverse drift (x's shape) and diffusion ([B]; zero for the ODE)."""
        f, g = self.forward.sde(x, t)
        c = 0.5 if self.probability_flow else 1.0
        drift = f - c * per_sample(g ** 2, x) * self.score(x, t)
        return drift, (torch.zeros_like(g) if self.probability_flow else g)


class _AlphaSDE(SDE):
    """Shared schedule of VP and sub-VP: beta(t) linear, alpha(t) = exp(-int_0^t beta / 2)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0):
        if not (0 <= beta_min <= beta_max) or beta_max <= 0:
            raise ValueError(f"need 0 <= beta_min <= beta_max and beta_max > 0, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max, self.T = float(beta_min), float(beta_max), float(T)

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: Tensor) -> Tensor:
        return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def s(self, t: Tensor) -> Tensor:
        return self.log_alpha(t).exp()

    def t_of_log_alpha(self, log_alpha: Tensor) -> Tensor:
        """Invert log alpha(t): the positive root of (d/4) t^2 + (beta_min/2) t + log_alpha = 0."""
        d = self.beta_max - self.beta_min
        if d == 0:
            return -log_alpha / (0.5 * self.beta_min)
        return (-0.5 * self.beta_min + (0.25 * self.beta_min ** 2 - d * log_alpha).sqrt()) / (0.5 * d)

    @property
    def prior_std(self) -> float:
        return 1.0

    def config(self) -> dict:
        return {"name": self.name, "beta_min": self.beta_min, "beta_max": self.beta_max, "T": self.T}


class VPSDE(_AlphaSDE):
    """Variance preserving: dx = -beta/2 x dt + sqrt(beta) dW (Song et al. 2021, eq. 11)."""

    name = "vp"

    def sigma(self, t: Tensor) -> Tensor:
        return torch.expm1(-2 * self.log_alpha(t)).sqrt()

    def sigma_inv(self, sigma: Tensor) -> Tensor:
        return self.t_of_log_alpha(-0.5 * torch.log1p(sigma ** 2))

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        beta = self.beta(t)
        return -0.5 * per_sample(beta, x) * x, beta.sqrt()


class SubVPSDE(_AlphaSDE):
    """Sub-VP: dx = -beta/2 x dt + sqrt(beta (1 - alpha^4)) dW (Song et al. 2021, eq. 12)."""

    name = "subvp"

    def sigma(self, t: Tensor) -> Tensor:
        log_alpha = self.log_alpha(t)
        return -torch.expm1(2 * log_alpha) / log_alpha.exp()

    def sigma_inv(self, sigma: Tensor) -> Tensor:
        # sigma alpha = 1 - alpha^2  =>  alpha = (sqrt(sigma^2 + 4) - sigma) / 2
        alpha = 2 / ((sigma ** 2 + 4).sqrt() + sigma)
        return self.t_of_log_alpha(alpha.log())

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        beta = self.beta(t)
        g2 = beta * -torch.expm1(4 * self.log_alpha(t))
        return -0.5 * per_sample(beta, x) * x, g2.sqrt()


class VESDE(SDE):
    """Variance exploding: dx = sqrt(d sigma^2 / dt) dW, sigma geometric (Song et al. 2021, eq. 9)."""

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0):
        if not (0 < sigma_min < sigma_max):
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max, self.T = float(sigma_min), float(sigma_max), float(T)
        self.log_ratio = math.log(self.sigma_max / self.sigma_min)

    def s(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t / self.T * self.log_ratio)

    def sigma_inv(self, sigma: Tensor) -> Tensor:
        return torch.log(sigma / self.sigma_min) / self.log_ratio * self.T

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        g = self.sigma(t) * math.sqrt(2 * self.log_ratio / self.T)
        return torch.zeros_like(x), g

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def config(self) -> dict:
        return {"name": self.name, "sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T}


SDES: dict[str, type[SDE]] = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE}


def sde_from_config(config: dict) -> SDE:
    """Rebuild an SDE from `SDE.config()`; an unknown name or key is a ValueError."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in SDES:
        raise ValueError(f"unknown SDE name {name!r}; expected one of {sorted(SDES)}")
    try:
        return SDES[name](**config)
    except TypeError as e:
        raise ValueError(f"bad SDE config for {name!r}: {e}") from None


class Truncated:
    """`sde` seen on [0, T'] for T' <= its T: samplers then start at T' (SDEdit / CCDF warm starts).

    Every method is the original process's (the schedule is unchanged); only the horizon `T` differs."""

    def __init__(self, sde: SDE, T: float):
        if not 0 < T <= sde.T:
            raise ValueError(f"truncation time must lie in (0, T={sde.T}], got {T}")
        self.base, self.T = sde, float(T)

    def __getattr__(self, name: str):
        return getattr(self.base, name)
