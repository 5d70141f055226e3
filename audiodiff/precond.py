"""ScoreModel: EDM preconditioning (Karras et al. 2022, Table 1) generalised to every score SDE.

Any SDE here has x_t = s(t) (x_0 + sigma(t) z), so x_hat = x_t / s(t) is x_0 plus Gaussian noise of level
sigma(t): the variance-exploding problem EDM preconditions. The net sees c_in x_hat and c_noise and predicts
F; the denoiser is D = c_skip x_hat + c_out F (an estimate of x_0) and the score of x_t follows by Tweedie:

    grad_x log p_t(x) = (s D - x) / (s^2 sigma^2).

So one net serves VP, sub-VP and VE alike, and its input and target both have unit variance at every level.
"""
from __future__ import annotations

from torch import Tensor, nn

from .sde import SDE
from .shape import per_sample


class ScoreModel(nn.Module):
    """Wrap net(x_in [B, ...], c_noise [B], labels [B] | None) -> [B, ...] as a denoiser and score for `sde`."""

    def __init__(self, net: nn.Module, sde: SDE, *, sigma_data: float = 0.5):
        super().__init__()
        if not sigma_data > 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}")
        self.net, self.sde, self.sigma_data = net, sde, float(sigma_data)

    def coefficients(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """c_skip, c_out, c_in, c_noise for noise level sigma [B] (Karras et al. 2022, Table 1, "EDM")."""
        sd2 = self.sigma_data ** 2
        total = sigma ** 2 + sd2
        c_skip = sd2 / total
        c_out = sigma * self.sigma_data / total.sqrt()
        c_in = total.rsqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise

    def denoise(self, x: Tensor, t: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """D(x_t, t) ~ E[x_0 | x_t]: x [B, ...], t [B] or float in (0, T] -> like x."""
        t = self.sde.check_t(t, x)
        s, sigma = self.sde.s(t), self.sde.sigma(t)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        x_hat = x / per_sample(s, x)
        f = self.net(per_sample(c_in, x) * x_hat, c_noise, labels)
        return per_sample(c_skip, x) * x_hat + per_sample(c_out, x) * f.to(x.dtype)

    def forward(self, x: Tensor, t: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """Same as `denoise`."""
        return self.denoise(x, t, labels)

    def score(self, x: Tensor, t: Tensor | float, labels: Tensor | None = None) -> Tensor:
        """grad_x log p_t(x) = (s D - x) / (s^2 sigma^2) (Tweedie); x [B, ...] -> like x."""
        t = self.sde.check_t(t, x)
        s, std = per_sample(self.sde.s(t), x), per_sample(self.sde.std(t), x)
        return (s * self.denoise(x, t, labels) - x) / std ** 2
