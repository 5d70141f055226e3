"""Every sampler x every SDE, driven by the exact score of Gaussian and two-mode data, reproduces the data.

Tolerances (20k samples for the Gaussian, 10k for the mixture, fixed seeds): mean within 0.05 data std,
variance within 5% (the sampling error alone is ~1% s.d.); mixture: left-mode weight within 0.03, each
mode's mean within 0.05 and std within 10%. Run `python tests/test_samplers.py` for the table of errors.
"""
from __future__ import annotations

import math

import pytest
import torch

import audiodiff as ad
from audiodiff.sampling import edm_times, uniform_times

try:
    from conftest import SDE_NAMES, GaussianMixture, gaussian, make_sde
except ImportError:  # run as a script from the repo root
    from tests.conftest import SDE_NAMES, GaussianMixture, gaussian, make_sde

# steps and options per sampler for the oracle tests; NFE = see audiodiff.sampling's docstring

CONFIGS = {
    "euler_maruyama": dict(steps=500),
    "pc": dict(steps=250, snr=0.1),
    "heun": dict(steps=50),
    "stochastic_heun": dict(steps=100),
    "rk45": dict(steps=1),
}


def run(name: str, score_data: GaussianMixture, sde_name: str, n: int, seed: int = 0):
    """Sample n scalars with the exact score; returns (samples [n], nfe)."""
    sde = make_sde(sde_name)
    options = dict(CONFIGS[name])
    steps = options.pop("steps")
    gen = torch.Generator().manual_seed(seed)
    x, nfe = ad.sample(score_data.score(sde), sde, (n, 1), name, steps, generator=gen, return_nfe=True, **options)
    return x.flatten().double(), nfe


@pytest.mark.parametrize("sde_name", SDE_NAMES)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gaussian_mean_and_variance(name, sde_name, gauss):
    x, _ = run(name, gauss, sde_name, 20_000)
    assert abs(x.mean().item() - gauss.mean) < 0.05 * math.sqrt(gauss.var)
    assert abs(x.var().item() / gauss.var - 1) < 0.05


@pytest.mark.parametrize("sde_name", SDE_NAMES)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mixture_modes_and_weights(name, sde_name, mixture):
    x, _ = run(name, mixture, sde_name, 10_000, seed=1)
    left = x < 0  # the modes at -1 and +1 (stds 0.2, 0.3) barely overlap at 0
    assert abs(left.double().mean().item() - 0.3) < 0.03
    for part, mean, std in ((x[left], -1.0, 0.2), (x[~left], 1.0, 0.3)):
        assert abs(part.mean().item() - mean) < 0.05
        assert abs(part.std().item() / std - 1) < 0.1


def test_pc_with_euler_maruyama_predictor(gauss):
    sde = ad.VPSDE()
    x = ad.sample(gauss.score(sde), sde, (20_000, 1), "pc", 250, predictor="euler_maruyama", snr=0.1,
                  generator=torch.Generator().manual_seed(0)).double()
    assert abs(x.mean().item() - gauss.mean) < 0.05 * math.sqrt(gauss.var)
    assert abs(x.var().item() / gauss.var - 1) < 0.05


def test_stochastic_heun_without_churn_is_heun(gauss):
    sde = ad.SubVPSDE()
    x_T = sde.prior_sample((32, 3), generator=torch.Generator().manual_seed(0))
    heun = ad.ode_heun(gauss.score(sde), sde, x_T, 12)
    for options in (dict(churn=0.0), dict(churn=40.0, s_tmax=1e-3), dict(churn=40.0, s_tmin=1e3)):
        assert torch.equal(ad.stochastic_heun(gauss.score(sde), sde, x_T, 12, **options), heun)
    assert not torch.equal(ad.stochastic_heun(gauss.score(sde), sde, x_T, 12, churn=40.0), heun)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_seed_reproducible_and_distinct(name, gauss):
    sde = ad.VESDE()
    options = dict(CONFIGS[name], steps=10)

    def draw(seed):
        return ad.sample(gauss.score(sde), sde, (64, 2, 3), name, generator=torch.Generator().manual_seed(seed),
                         **options)

    a, b, c = draw(0), draw(0), draw(1)
    assert a.shape == (64, 2, 3) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name, options, nfe", [
    ("euler_maruyama", {}, 7 + 1), ("pc", dict(corrector_steps=2), 3 * 7 + 1),
    ("heun", {}, 2 * 7 + 1), ("stochastic_heun", {}, 2 * 7 + 1)])
def test_nfe_and_callback(name, options, nfe, gauss):
    sde = ad.VPSDE()
    calls = []
    _, used = ad.sample(gauss.score(sde), sde, (8, 1), name, 7, generator=torch.Generator().manual_seed(0),
                        callback=lambda i, t, x: calls.append((i, t)), return_nfe=True, **options)
    assert used == nfe
    assert [i for i, _ in calls] == list(range(7))
    times = [t for _, t in calls]
    assert all(a > b for a, b in zip(times, times[1:])) and times[-1] == pytest.approx(1e-3)


def test_rk45_counts_solver_evaluations(gauss):
    sde = ad.VPSDE()
    _, loose = ad.sample(gauss.score(sde), sde, (8, 1), "rk45", rtol=1e-2, atol=1e-2, return_nfe=True)
    _, tight = ad.sample(gauss.score(sde), sde, (8, 1), "rk45", rtol=1e-6, atol=1e-6, return_nfe=True)
    assert 10 < loose < tight


def test_project_and_resample(gauss):
    """project sees every step's new time; RePaint repeats each step `resample` more times, projected too."""
    sde = ad.VESDE()
    seen = []

    def project(x, t):
        seen.append(t[0].item())
        return torch.cat([torch.full_like(x[:, :1], 0.25), x[:, 1:]], dim=1)  # pin coordinate 0

    x, nfe = ad.sample(gauss.score(sde), sde, (16, 2), "heun", 5, project=project, resample=2, return_nfe=True)
    grid = edm_times(sde, 5, 1e-5)[1:].tolist()
    assert seen == pytest.approx([t for t in grid for _ in range(3)])
    assert nfe == 3 * 2 * 5 + 1
    # the final Tweedie denoise at sigma(eps) = 0.01 barely moves the pinned coordinate
    assert torch.allclose(x[:, 0], torch.tensor(0.25), atol=0.01)


def test_progress_bar_runs(gauss, capsys):
    sde = ad.VPSDE()
    x = ad.sample(gauss.score(sde), sde, (4, 1), "euler_maruyama", 3, progress=True)
    assert x.shape == (4, 1)


def test_time_grids():
    sde = ad.VPSDE()
    t = uniform_times(sde, 4, 1e-3)
    assert t.tolist() == pytest.approx([1.0, 0.75025, 0.5005, 0.25075, 1e-3])
    t = edm_times(sde, 10, 1e-3)
    sigma = sde.sigma(t)
    assert t[0] == sde.T and t[-1] == 1e-3 and (t[1:] < t[:-1]).all()
    # Karras et al. eq. 5: sigma^(1/rho) is linear in the step index
    assert torch.allclose(sigma ** (1 / 7), torch.linspace(sigma[0].item() ** (1 / 7), sigma[-1].item() ** (1 / 7), 11, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, word", [
    (dict(sampler="nope"), "sampler"), (dict(steps=0), "steps"), (dict(eps=0.0), "eps"), (dict(eps=1.0), "eps"),
    (dict(churn=3.0), "churn"), (dict(sampler="pc", snr=-1.0), "snr"), (dict(sampler="rk45", resample=1), "resample")])
def test_bad_arguments(kwargs, word, gauss):
    sde = ad.VPSDE()
    kwargs = dict(dict(sampler="heun", steps=3), **kwargs)
    with pytest.raises(ValueError, match=word):
        ad.sample(gauss.score(sde), sde, (2, 1), **kwargs)


def test_non_finite_start_is_rejected(gauss):
    sde = ad.VPSDE()
    x_T = torch.tensor([[0.0], [float("nan")]])
    for fn in ad.SAMPLERS.values():
        with pytest.raises(ValueError, match="x_T"):
            fn(gauss.score(sde), sde, x_T)


if __name__ == "__main__":  # the table of measured errors: python tests/test_samplers.py
    torch.set_num_threads(1)
    g, mix = gaussian(0.7, 0.4), GaussianMixture([-1.0, 1.0], [0.2, 0.3], [0.3, 0.7])
    print(f"Gaussian N({g.mean}, {g.var:.2f}), 20k samples; mixture 0.3 N(-1, .2^2) + 0.7 N(1, .3^2), 10k samples")
    print("| sampler | options | SDE | NFE | mean err (data sd) | var err | mixture left weight |")
    print("|---|---|---|---|---|---|---|")
    for name, config in CONFIGS.items():
        for sde_name in SDE_NAMES:
            x, nfe = run(name, g, sde_name, 20_000)
            m, _ = run(name, mix, sde_name, 10_000, seed=1)
            print(f"| {name} | {config} | {sde_name} | {nfe} | {(x.mean().item() - g.mean) / math.sqrt(g.var):+.4f} "
                  f"| {x.var().item() / g.var - 1:+.4f} | {(m < 0).double().mean().item():.4f} |", flush=True)
