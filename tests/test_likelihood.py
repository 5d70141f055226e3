"""log_likelihood through the PF ODE matches closed-form log-densities (correlated Gaussian, 1-D mixture)."""
from __future__ import annotations

import math

import pytest
import torch

import audiodiff as ad
from audiodiff.shape import per_sample


MU = torch.tensor([1.0, -0.5, 0.3, 2.0], dtype=torch.float64)
L = torch.tensor([[0.6, 0.0, 0.0, 0.0], [0.4, 0.5, 0.0, 0.0], [-0.3, 0.2, 0.8, 0.0], [0.1, -0.6, 0.3, 1.2]],
                 dtype=torch.float64)
COV = L @ L.T  # correlated: the drift's Jacobian is not diagonal, so Hutchinson is genuinely stochastic


def correlated_score(sde):
    """Exact score of N(s MU, s^2 (COV + sigma^2 I)) for x [B, 4]."""
    def score(x, t):
        s, sigma = per_sample(sde.s(t), x), sde.sigma(t)
        prec = torch.linalg.inv(COV + sigma[:, None, None] ** 2 * torch.eye(4, dtype=x.dtype))  # [B, 4, 4]
        return -torch.einsum("bij,bj->bi", prec, x - s * MU) / s ** 2
    return score


def exact_logp(x0):
    return torch.distributions.MultivariateNormal(MU, COV).log_prob(x0)


def data(n, seed=0):
    return MU + torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) @ L.T


# The remaining error is the prior's, not the ODE's: N(0, prior_std^2) misses p_T's mean s(T) MU (measured for
# centred data: 2e-4 nats VP, 2e-3 VE). VE's default sigma_max = 50 leaves ~|MU| / 50 = 0.05 nats (2%) for this
# MU, so VE is checked with sigma_max = 500.
LIKELIHOOD_SDES = {"vp": ad.VPSDE(), "subvp": ad.SubVPSDE(), "ve": ad.VESDE(sigma_max=500.0)}


@pytest.mark.parametrize("name", sorted(LIKELIHOOD_SDES))
def test_exact_trace_matches_gaussian_log_density(name):
    sde = LIKELIHOOD_SDES[name]
    x0 = data(16)
    logp = ad.log_likelihood(correlated_score(sde), sde, x0, trace="exact")
    truth = exact_logp(x0)
    assert logp.shape == (16,)
    assert ((logp - truth).abs() < 0.01 * truth.abs()).all()  # within 1% (measured max: 0.65% VP/sub-VP, 0.2% VE)
    bits = ad.bits_per_sample(correlated_score(sde), sde, x0, trace="exact")
    assert torch.allclose(bits, -logp / (4 * math.log(2)), rtol=1e-6)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(probe):
    sde = ad.VPSDE()
    x0 = data(1).expand(1000, 4).contiguous()
    logp = ad.log_likelihood(correlated_score(sde), sde, x0, probe=probe, generator=torch.Generator().manual_seed(0))
    truth = exact_logp(x0[:1]).item()
    assert logp.std() > 0.01  # one probe per example: a real estimate, not the exact trace
    assert abs(logp.mean().item() - truth) < 4 * logp.std().item() / 1000 ** 0.5  # 4 standard errors


def test_mixture_log_density_through_a_nonlinear_flow(sde, mixture):
    x0 = torch.linspace(-1.6, 1.8, 12, dtype=torch.float64)[:, None]
    logp = ad.log_likelihood(mixture.score(sde), sde, x0, trace="exact")
    comps = torch.stack([w.log() - 0.5 * ((x0[:, 0] - m) / s) ** 2 - torch.log(s * math.sqrt(2 * math.pi))
                         for m, s, w in zip(mixture.means, mixture.stds, mixture.weights)])
    truth = torch.logsumexp(comps, 0)
    assert (logp - truth).abs().max() < 0.01 * truth.abs().clamp_min(1).max()


def test_generator_reproducible_and_bad_arguments():
    sde = ad.VESDE()
    x0 = data(4)
    a = ad.log_likelihood(correlated_score(sde), sde, x0, generator=torch.Generator().manual_seed(1))
    b = ad.log_likelihood(correlated_score(sde), sde, x0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    for kwargs, word in [(dict(trace="nope"), "trace"), (dict(probe="nope"), "probe"), (dict(eps=2.0), "eps")]:
        with pytest.raises(ValueError, match=word):
            ad.log_likelihood(correlated_score(sde), sde, x0, **kwargs)
    with pytest.raises(ValueError, match="x0"):
        ad.log_likelihood(correlated_score(sde), sde, x0 * float("nan"))
