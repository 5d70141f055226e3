"""ScoreModel preconditioning and the DSM loss, checked against the exact Gaussian denoiser; a tiny trained model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import audiodiff as ad
from audiodiff.shape import per_sample


MU, V = 0.7, 0.16  # the `gauss` fixture: N(0.7, 0.4^2) per coordinate


class OracleNet(nn.Module):
    """The net whose ScoreModel denoiser is exactly E[x_0 | x_t] for N(MU, V) data: F* = (D* - c_skip x_hat) / c_out."""

    def __init__(self, sigma_data: float, shift: float = 0.0):
        super().__init__()
        self.sigma_data, self.shift = sigma_data, shift

    def forward(self, x_in, c_noise, labels=None):
        sigma = per_sample(torch.exp(4 * c_noise), x_in)  # c_noise = log(sigma) / 4
        total = sigma ** 2 + self.sigma_data ** 2
        x_hat = x_in * total.sqrt()  # c_in = 1 / sqrt(total)
        d_star = MU + V / (V + sigma ** 2) * (x_hat - MU) + self.shift
        c_skip, c_out = self.sigma_data ** 2 / total, sigma * self.sigma_data / total.sqrt()
        return (d_star - c_skip * x_hat) / c_out


@pytest.mark.parametrize("sigma_data", [0.5, 1.3])
def test_score_model_with_optimal_net_gives_exact_score(sde, gauss, sigma_data):
    model = ad.ScoreModel(OracleNet(sigma_data), sde, sigma_data=sigma_data)
    x = torch.randn(64, 2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    t = torch.linspace(0.01, 1.0, 64, dtype=torch.float64)
    assert torch.allclose(model.score(x, t), gauss.score(sde)(x, t), rtol=1e-8, atol=1e-8)
    # Tweedie: D = (x + std^2 score) / s
    d = model.denoise(x, t)
    assert torch.allclose(d, (x + per_sample(sde.std(t), x) ** 2 * model.score(x, t)) / per_sample(sde.s(t), x))
    assert torch.equal(model(x, t), d)


def test_score_model_coefficients_are_edm():
    model = ad.ScoreModel(nn.Identity(), ad.VESDE(), sigma_data=0.5)
    c_skip, c_out, c_in, c_noise = model.coefficients(torch.tensor([0.5]))
    assert (c_skip.item(), c_in.item()) == pytest.approx((0.5, 1 / 0.5 ** 0.5))
    assert c_out.item() == pytest.approx(0.25 / 0.5 ** 0.5) and c_noise.item() == pytest.approx(-0.1733, abs=1e-4)
    # the EDM identity c_skip + c_out^2 / sigma_data^2 = 1 at every sigma
    sigma = torch.logspace(-2, 2, 9)
    c_skip, c_out, _, _ = model.coefficients(sigma)
    assert torch.allclose(c_skip + c_out ** 2 / 0.25, torch.ones(9))


def test_labels_reach_the_net():
    seen = []

    class Net(nn.Module):
        def forward(self, x, c_noise, labels=None):
            seen.append(labels)
            return torch.zeros_like(x)

    model = ad.ScoreModel(Net(), ad.VPSDE())
    labels = torch.tensor([1, -1])
    ad.dsm_loss(model, torch.zeros(2, 1, 8), labels)
    assert seen[-1] is labels


@pytest.mark.parametrize("weighting", ["sigma2", "likelihood"])
def test_dsm_loss_of_optimal_denoiser_matches_its_closed_form(sde, weighting):
    """E[loss | t] for D = E[x0 | x_t] is lambda/(s^2 sigma^4) * posterior variance V sigma^2 / (V + sigma^2)."""
    gen = torch.Generator().manual_seed(0)
    model = ad.ScoreModel(OracleNet(0.5), sde).double()
    x0 = MU + V ** 0.5 * torch.randn(20_000, 4, generator=gen, dtype=torch.float64)
    loss, t = ad.dsm_loss_per_sample(model, x0, weighting=weighting, generator=gen)
    assert loss.shape == t.shape == (20_000,)
    assert 1e-5 <= t.min() and t.max() <= sde.T and abs(t.mean().item() - 0.5) < 0.01
    s, sigma = sde.s(t), sde.sigma(t)
    post_var = V * sigma ** 2 / (V + sigma ** 2)
    lam = s ** 2 * sigma ** 2 if weighting == "sigma2" else sde.sde(x0, t)[1] ** 2
    expected = lam / (s ** 2 * sigma ** 4) * post_var
    assert abs((loss / expected).mean().item() - 1) < 0.03  # each ratio ~ chi^2_4 / 4: s.e. 0.005


def test_lognormal_times_follow_the_truncated_normal_in_log_sigma(sde):
    """ln sigma(t) ~ N(p_mean, p_std^2) restricted to [sigma(eps), sigma(T)]: quantiles of the truncated law."""
    from audiodiff.losses import sample_times

    p_mean, p_std, eps = -2.0, 1.6, 1e-5
    t = sample_times(sde, 200_000, eps=eps, t_sampling="lognormal", p_mean=p_mean, p_std=p_std,
                     generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert eps * (1 - 1e-9) <= t.min() and t.max() <= sde.T
    log_sigma = sde.sigma(t).log()
    normal = torch.distributions.Normal(torch.tensor(p_mean, dtype=torch.float64), p_std)
    lo, hi = normal.cdf(sde.sigma(torch.tensor([eps, sde.T], dtype=torch.float64)).log())
    for q in (0.1, 0.5, 0.9):
        expected = normal.icdf(lo + q * (hi - lo)).item()
        assert log_sigma.quantile(q).item() == pytest.approx(expected, abs=0.03)
    with pytest.raises(ValueError, match="t_sampling"):
        sample_times(sde, 4, t_sampling="cosine")


def test_lognormal_dsm_loss_of_optimal_denoiser_matches_its_closed_form(sde):
    """The weighting formula does not depend on how t is drawn: the oracle ratio is still 1."""
    gen = torch.Generator().manual_seed(0)
    model = ad.ScoreModel(OracleNet(0.5), sde).double()
    x0 = MU + V ** 0.5 * torch.randn(20_000, 4, generator=gen, dtype=torch.float64)
    loss, t = ad.dsm_loss_per_sample(model, x0, generator=gen, t_sampling="lognormal", p_mean=-2.0, p_std=1.6)
    sigma = sde.sigma(t)
    expected = V / (V + sigma ** 2)
    assert abs((loss / expected).mean().item() - 1) < 0.03


def test_dsm_loss_is_smallest_at_the_optimal_denoiser(sde):
    x0 = MU + V ** 0.5 * torch.randn(4096, 1, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(shift):
        model = ad.ScoreModel(OracleNet(0.5, shift), sde).double()
        return ad.dsm_loss(model, x0, generator=torch.Generator().manual_seed(1)).item()

    assert loss(0.0) < loss(0.05) and loss(0.0) < loss(-0.05)


def test_dsm_loss_is_reproducible_and_validates():
    model = ad.ScoreModel(OracleNet(0.5), ad.VPSDE())
    x0 = torch.randn(8, 1, 4)
    a = ad.dsm_loss(model, x0, generator=torch.Generator().manual_seed(3))
    b = ad.dsm_loss(model, x0, generator=torch.Generator().manual_seed(3))
    assert a.ndim == 0 and torch.equal(a, b)
    with pytest.raises(ValueError, match="weighting"):
        ad.dsm_loss(model, x0, weighting="snr")
    with pytest.raises(ValueError, match="eps"):
        ad.dsm_loss(model, x0, eps=0.0)
    with pytest.raises(ValueError, match="x0"):
        ad.dsm_loss(model, x0 * float("inf"))


class MLP(nn.Module):
    """net(x_in [B, 1], c_noise [B]) for 1-D data."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                  nn.Linear(width, 1))

    def forward(self, x_in, c_noise, labels=None):
        return self.body(torch.cat([x_in, c_noise[:, None]], dim=1))


class TweedieDenoiser:
    """The optimal denoiser of a closed-form score, duck-typed as a ScoreModel for dsm_loss."""

    def __init__(self, score, sde):
        self.score, self.sde = score, sde

    def denoise(self, x, t, labels=None):
        return ad.sampling.denoise(self.score, self.sde, x, t)


def test_small_mlp_trained_with_dsm_samples_both_modes(mixture):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    sde = ad.VPSDE()
    model = ad.ScoreModel(MLP(), sde, sigma_data=1.0)
    x_eval = mixture.sample((8192, 1), generator=torch.Generator().manual_seed(5))

    def eval_loss(m):  # same x0, t and z for every model
        with torch.no_grad():
            return ad.dsm_loss(m, x_eval, generator=torch.Generator().manual_seed(6)).item()

    floor, before = eval_loss(TweedieDenoiser(mixture.score(sde), sde)), eval_loss(model)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = ad.dsm_loss(model, mixture.sample((256, 1), generator=gen), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss(model)
    assert floor < after and after - floor < 0.4 * (before - floor)  # measured: 75% of the reducible loss gone
    with torch.no_grad():
        x = ad.sample(model.score, sde, (4000, 1), "heun", 20, generator=gen).flatten()
    left = x < 0
    assert abs(left.float().mean().item() - 0.3) < 0.1  # weights 0.3 / 0.7
    assert abs(x[left].mean().item() + 1) < 0.15 and abs(x[~left].mean().item() - 1) < 0.15
    assert ((x + 1).abs() < 0.6).logical_or((x - 1).abs() < 0.9).float().mean() > 0.95  # little mass between
