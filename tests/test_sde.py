"""The SDEs' closed forms agree with each other and with simulation of the forward SDE."""
from __future__ import annotations

import math

import pytest
import torch

import audiodiff as ad
from audiodiff.shape import per_sample



def test_sigma_inv_inverts_sigma(sde):
    t = torch.linspace(1e-4, 1.0, 200, dtype=torch.float64)
    assert torch.allclose(sde.sigma_inv(sde.sigma(t)), t, rtol=1e-9, atol=1e-12)
    sigma = torch.logspace(-2, 1.5, 50, dtype=torch.float64)
    assert torch.allclose(sde.sigma(sde.sigma_inv(sigma)), sigma, rtol=1e-9)


def test_std_is_s_times_sigma_and_marginal_shapes(sde):
    x0 = torch.randn(4, 2, 5)
    t = torch.tensor([0.1, 0.3, 0.6, 1.0])
    mean, std = sde.marginal(x0, t)
    assert mean.shape == x0.shape and std.shape == (4, 1, 1)
    assert torch.allclose(std.flatten(), sde.std(t))
    assert torch.allclose(mean, per_sample(sde.s(t), x0) * x0)


def test_marginal_matches_forward_euler_maruyama(sde):
    """Simulate dx = f dt + g dW from t_a (drawn from the marginal) to t_b; compare with marginal(x0, t_b)."""
    gen = torch.Generator().manual_seed(0)
    n, steps, t_a, t_b = 20_000, 400, 0.05, 0.6
    x0 = torch.full((n, 1), 0.7, dtype=torch.float64)
    mean_a, std_a = sde.marginal(x0, t_a)
    x = mean_a + std_a * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    dt = (t_b - t_a) / steps
    for i in range(steps):
        f, g = sde.sde(x, torch.full((n,), t_a + i * dt, dtype=torch.float64))
        x = x + f * dt + per_sample(g, x) * math.sqrt(dt) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    mean_b, std_b = sde.marginal(x0, t_b)
    assert abs(x.mean().item() - mean_b[0].item()) < 0.03 * std_b[0].item()  # ~4 standard errors
    assert abs(x.std().item() / std_b[0].item() - 1) < 0.02


def test_transition_composes_with_marginal(sde):
    """x_{t1} ~ marginal(x0, t1) then transition(t1 -> t2) is distributed as marginal(x0, t2)."""
    gen = torch.Generator().manual_seed(1)
    x0 = torch.full((20_000, 1), -0.4, dtype=torch.float64)
    mean1, std1 = sde.marginal(x0, 0.2)
    x1 = mean1 + std1 * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x2 = sde.transition(x1, 0.2, 0.7, generator=gen)
    mean2, std2 = sde.marginal(x0, 0.7)
    assert abs(x2.mean().item() - mean2[0].item()) < 0.03 * std2[0].item()
    assert abs(x2.std().item() / std2[0].item() - 1) < 0.02
    assert torch.equal(sde.transition(x1, 0.3, 0.3), x1)  # no time, no change


def test_prior_matches_marginal_at_T_and_prior_logp(sde):
    z = sde.prior_sample((3, 2, 4), generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, 2, 4)
    # p_T is close to the prior for unit-scale data
    _, std_T = sde.marginal(torch.zeros(1, 1), sde.T)
    assert std_T.item() == pytest.approx(sde.prior_std, rel=2e-3)
    normal = torch.distributions.Normal(0.0, sde.prior_std)
    assert torch.allclose(sde.prior_logp(z), normal.log_prob(z).flatten(1).sum(1), rtol=1e-5)


def test_reverse_probability_flow_halves_the_score_term(sde):
    x, t = torch.randn(5, 3), torch.full((5,), 0.4)
    score = lambda x, t: -x  # noqa: E731
    f, g = sde.sde(x, t)
    drift_sde, g_sde = sde.reverse(score).sde(x, t)
    drift_ode, g_ode = sde.reverse(score, probability_flow=True).sde(x, t)
    assert torch.allclose(drift_sde, f + per_sample(g ** 2, x) * x)
    assert torch.allclose(drift_ode, f + 0.5 * per_sample(g ** 2, x) * x)
    assert torch.equal(g_sde, g) and (g_ode == 0).all()


def test_diffusion_matches_derivative_of_variance(sde):
    """g^2 = d(std^2)/dt - 2 (d log s / dt) std^2 for a linear SDE (Sarkka & Solin 2019, eq. 5.51)."""
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64, requires_grad=True)
    var, log_s = sde.std(t) ** 2, sde.s(t).log() + 0 * t  # + 0 t: VE's s = 1 is constant
    (dvar,) = torch.autograd.grad(var.sum(), t)
    (dlog_s,) = torch.autograd.grad(log_s.sum(), t)
    _, g = sde.sde(torch.ones(19, 1, dtype=torch.float64), t.detach())
    assert torch.allclose(g ** 2, dvar - 2 * dlog_s * var.detach(), rtol=1e-8)


def test_config_round_trip(sde):
    again = ad.sde_from_config(sde.config())
    t = torch.linspace(0.01, 1, 7)
    assert type(again) is type(sde) and torch.equal(again.sigma(t), sde.sigma(t))


@pytest.mark.parametrize("t", [0.0, -0.1, 1.5, float("nan")])
def test_marginal_rejects_t_outside_horizon(sde, t):
    with pytest.raises(ValueError, match="t must"):
        sde.marginal(torch.zeros(2, 1), t)


def test_bad_config_is_a_value_error():
    with pytest.raises(ValueError, match="SDE name"):
        ad.sde_from_config({"name": "nope"})
    with pytest.raises(ValueError):
        ad.VESDE(sigma_min=1.0, sigma_max=0.5)
