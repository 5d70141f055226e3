"""Warm starts (SDEdit / CCDF): x_init diffused to t_init, then the reverse process on [eps, t_init].

Oracle: for Gaussian data N(0.7, 0.4^2) with the exact score, starting from data samples keeps the data
distribution (the forward marginal at t_init is exact), for every sampler and SDE; a constant guess is kept
when t_init is small and forgotten when t_init = T.
"""
from __future__ import annotations

import pytest
import torch

import audiodiff as ad

try:
    from conftest import SDE_NAMES, make_sde
except ImportError:  # run as a script from the repo root
    from tests.conftest import SDE_NAMES, make_sde

CONFIGS = {"euler_maruyama": dict(steps=200), "pc": dict(steps=100, snr=0.1), "heun": dict(steps=20),
           "stochastic_heun": dict(steps=100), "rk45": dict(steps=1)}


@pytest.mark.parametrize("sde_name", SDE_NAMES)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_data_started_run_keeps_the_data_distribution(name, sde_name, gauss):
    sde = make_sde(sde_name)
    options = dict(CONFIGS[name])
    steps = options.pop("steps")
    gen = torch.Generator().manual_seed(1)
    x_init = 0.7 + 0.4 * torch.randn(20_000, 1, generator=gen)
    x = ad.sample(gauss.score(sde), sde, (20_000, 1), name, steps, generator=gen, x_init=x_init, t_init=0.5,
                  **options).double()
    assert abs(x.mean().item() - 0.7) < 0.05 * 0.4
    assert abs(x.var().item() / 0.16 - 1) < 0.05


@pytest.mark.parametrize("sde_name", SDE_NAMES)
def test_small_t_init_keeps_the_guess_and_t_init_T_forgets_it(sde_name, gauss):
    sde = make_sde(sde_name)
    guess = torch.full((4000, 1), -0.5)  # 3 data std below the mean
    t_small = sde.sigma_inv(torch.tensor(0.02)).item()  # noise 0.02 against a data std of 0.4
    near = ad.sample(gauss.score(sde), sde, guess.shape, "heun", 10, x_init=guess, t_init=t_small)
    assert abs(near.mean().item() + 0.5) < 0.02
    far = ad.sample(gauss.score(sde), sde, guess.shape, "heun", 20, x_init=guess, t_init=sde.T,
                    generator=torch.Generator().manual_seed(0))
    assert abs(far.mean().item() - 0.7) < 0.1  # the guess (1.2 away) is forgotten; heun's VE bias is ~0.03


def test_steps_span_the_shorter_interval(gauss):
    """Same steps, same NFE; the grid starts at t_init (the project hook sees its times)."""
    sde = ad.VPSDE()
    seen = []

    def project(x, t):
        seen.append(t[0].item())
        return x

    _, nfe = ad.sample(gauss.score(sde), sde, (8, 1), "euler_maruyama", 10, project=project,
                       x_init=torch.zeros(8, 1), t_init=0.3, return_nfe=True)
    assert nfe == 11
    assert max(seen) < 0.3 and seen[0] == pytest.approx(0.3 - (0.3 - 1e-3) / 10)


@pytest.mark.parametrize("kwargs, word", [
    (dict(x_init=torch.zeros(8, 1)), "t_init"),
    (dict(t_init=0.5), "x_init"),
    (dict(x_init=torch.zeros(4, 1), t_init=0.5), "shape"),
    (dict(x_init=torch.zeros(8, 1), t_init=1.5), "t_init"),
    (dict(x_init=torch.zeros(8, 1), t_init=1e-4), "t_init"),
    (dict(x_init=torch.full((8, 1), float("nan")), t_init=0.5), "NaN"),
])
def test_bad_warm_start(kwargs, word, gauss):
    sde = ad.VPSDE()
    with pytest.raises(ValueError, match=word):
        ad.sample(gauss.score(sde), sde, (8, 1), "heun", 5, **kwargs)
