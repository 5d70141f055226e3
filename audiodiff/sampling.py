"""Samplers for score SDEs: plain functions over a score callable, one signature (k-diffusion style).

    x0 = sampler(score, sde, x_T, steps, *, eps, generator, callback, project, resample, progress, **opts)

A step sampler is a `step(x, t_cur, t_next) -> x` on a time grid; one loop (`_run`) adds what every task
needs: `project(x, t)` after every step (replacement / data consistency), RePaint resampling (re-noise to the
step's start with `sde.transition`, redo the step), `callback(i, t, x)`, a tqdm bar, and the final Tweedie
denoise x_0 = (x + std^2 score(x, eps)) / s at the grid's last time eps. `ode_rk45` is adaptive and has no grid.

NFE (score evaluations, one per batch call) is reported by `sample(..., return_nfe=True) -> (x0, nfe)`.
Grid steps and NFE: euler_maruyama steps + 1; pc (1 + corrector_steps) * steps + 1; heun 2 steps + 1;
stochastic_heun 2 steps + 1; each RePaint resample adds one step's worth per step.
"""
from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np
import torch
from scipy.integrate import RK45
from torch import Tensor
from tqdm.auto import tqdm

from .sde import SDE, Score, Truncated, check_finite
from .shape import batch_times, per_sample

Project = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[int, float, Tensor], None]
Step = Callable[[Tensor, float, float], Tensor]


# --- helpers -------------------------------------------------------------------------------------------
def default_eps(sde: SDE) -> float:
    """Smallest sampling time: 1e-5 for VE, 1e-3 for VP / sub-VP (score_sde defaults; both end near sigma 0.01)."""
    return 1e-5 if sde.name == "ve" else 1e-3


def _check_eps(sde: SDE, eps: float | None) -> float:
    eps = default_eps(sde) if eps is None else float(eps)
    if not 0 < eps < sde.T:
        raise ValueError(f"eps must lie in (0, T={sde.T}), got {eps}")
    return eps


def _check_args(sde: SDE, x_T: Tensor, steps: int, eps: float | None, resample: int) -> float:
    check_finite(x_T, "x_T")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps}")
    if int(resample) != resample or resample < 0:
        raise ValueError(f"resample must be an integer >= 0, got {resample}")
    return _check_eps(sde, eps)


def uniform_times(sde: SDE, steps: int, eps: float) -> Tensor:
    """steps + 1 times evenly spaced from T down to eps (Song et al. 2021 / score_sde), float64."""
    return torch.linspace(sde.T, eps, steps + 1, dtype=torch.float64)


def edm_times(sde: SDE, steps: int, eps: float, *, rho: float = 7.0) -> Tensor:
    """steps + 1 times whose sigmas follow Karras et al. 2022 eq. 5 from sigma(T) to sigma(eps), float64."""
    ends = torch.tensor([sde.T, eps], dtype=torch.float64)
    hi, lo = sde.sigma(ends).tolist()
    ramp = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    sigmas = (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    t = sde.sigma_inv(sigmas).clamp(eps, sde.T)
    t[0], t[-1] = sde.T, eps  # exact ends despite round-off in sigma_inv
    return t


def denoise(score: Score, sde: SDE, x: Tensor, t: Tensor) -> Tensor:
    """Tweedie's estimate E[x_0 | x_t] = (x + std^2 score) / s for t [B]."""
    s, std = per_sample(sde.s(t), x), per_sample(sde.std(t), x)
    return (x + std ** 2 * score(x, t)) / s


class _Counted:
    """A score callable that counts its evaluations (NFE)."""

    def __init__(self, score: Score):
        self.score, self.nfe = score, 0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.nfe += 1
        return self.score(x, t)


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _run(step: Step, score: Score, sde: SDE, x: Tensor, times: Tensor, *, generator, project, resample,
         callback, progress, desc: str) -> Tensor:
    """The loop every step sampler shares: step, project, RePaint resample, callback, final Tweedie denoise."""
    ts = times.tolist()
    for i in tqdm(range(len(ts) - 1), desc=desc, disable=not progress, leave=False):
        t_cur, t_next = ts[i], ts[i + 1]
        x_next = _step_and_project(step, x, t_cur, t_next, project)
        for _ in range(resample):
            # RePaint (Lugmayr et al. 2022): forward-noise back to t_cur so projected parts harmonise.
            x_back = sde.transition(x_next, t_next, t_cur, generator=generator)
            x_next = _step_and_project(step, x_back, t_cur, t_next, project)
        x = x_next
        if callback is not None:
            callback(i, t_next, x)
    return denoise(score, sde, x, batch_times(ts[-1], x))


def _step_and_project(step: Step, x: Tensor, t_cur: float, t_next: float, project: Project | None) -> Tensor:
    x = step(x, t_cur, t_next)
    return x if project is None else project(x, batch_times(t_next, x))


# --- reverse-SDE samplers (Song et al. 2021) ---------------------------------------------------------------
def euler_maruyama_step(score: Score, sde: SDE, x: Tensor, t_cur: float, t_next: float,
                        generator: torch.Generator | None) -> Tensor:
    """One Euler-Maruyama step of the reverse SDE (Song et al. 2021, eq. 6) from t_cur down to t_next."""
    t = batch_times(t_cur, x)
    drift, g = sde.reverse(score).sde(x, t)
    dt = t_next - t_cur
    return x + drift * dt + per_sample(g * math.sqrt(-dt), x) * _noise(x, generator)


def reverse_diffusion_step(score: Score, sde: SDE, x: Tensor, t_cur: float, t_next: float,
                           generator: torch.Generator | None) -> Tensor:
    """Reverse-diffusion predictor (Song et al. 2021, eq. 47) on x_hat = x / s, where every SDE is VE."""
    t, t2 = batch_times(t_cur, x), batch_times(t_next, x)
    s, s2 = per_sample(sde.s(t), x), per_sample(sde.s(t2), x)
    dvar = per_sample(sde.sigma(t) ** 2 - sde.sigma(t2) ** 2, x)  # sigma^2 drop over the step
    x_hat = x / s + dvar * s * score(x, t) + dvar.sqrt() * _noise(x, generator)  # s * score = score of x_hat
    return s2 * x_hat


def langevin_step(score: Score, x: Tensor, t: float, snr: float, generator: torch.Generator | None) -> Tensor:
    """Langevin corrector (Song et al. 2021, Alg. 4): step 2 (snr |z| / |score|)^2, norms averaged over the batch."""
    tt = batch_times(t, x)
    grad, z = score(x, tt), _noise(x, generator)
    grad_norm = grad.flatten(1).norm(dim=1).mean()
    z_norm = z.flatten(1).norm(dim=1).mean()
    step = 2 * (snr * z_norm / grad_norm.clamp_min(1e-30)) ** 2
    return x + step * grad + (2 * step).sqrt() * z


def euler_maruyama(score: Score, sde: SDE, x_T: Tensor, steps: int = 1000, *, eps: float | None = None,
                   generator: torch.Generator | None = None, callback: Callback | None = None,
                   project: Project | None = None, resample: int = 0, progress: bool = False) -> Tensor:
    """Euler-Maruyama on the reverse SDE over a uniform t grid (Song et al. 2021, Sec. 4.1): x_T [B, ...] -> x_0."""
    eps = _check_args(sde, x_T, steps, eps, resample)

    def step(x, t_cur, t_next):
        return euler_maruyama_step(score, sde, x, t_cur, t_next, generator)

    return _run(step, score, sde, x_T, uniform_times(sde, steps, eps), generator=generator, project=project,
                resample=resample, callback=callback, progress=progress, desc="euler_maruyama")


PREDICTORS = {"reverse_diffusion": reverse_diffusion_step, "euler_maruyama": euler_maruyama_step}


def predictor_corrector(score: Score, sde: SDE, x_T: Tensor, steps: int = 1000, *, eps: float | None = None,
                        generator: torch.Generator | None = None, callback: Callback | None = None,
                        project: Project | None = None, resample: int = 0, progress: bool = False,
                        predictor: str = "reverse_diffusion", snr: float = 0.16,
                        corrector_steps: int = 1) -> Tensor:
    """Predictor-corrector sampling (Song et al. 2021, Alg. 2/3): predictor step, then Langevin at the new time."""
    eps = _check_args(sde, x_T, steps, eps, resample)
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {sorted(PREDICTORS)}, got {predictor!r}")
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    if int(corrector_steps) != corrector_steps or corrector_steps < 0:
        raise ValueError(f"corrector_steps must be an integer >= 0, got {corrector_steps}")
    predict = PREDICTORS[predictor]

    def step(x, t_cur, t_next):
        x = predict(score, sde, x, t_cur, t_next, generator)
        for _ in range(corrector_steps):
            x = langevin_step(score, x, t_next, snr, generator)
        return x

    return _run(step, score, sde, x_T, uniform_times(sde, steps, eps), generator=generator, project=project,
                resample=resample, callback=callback, progress=progress, desc="pc")


# --- probability-flow samplers in sigma (Karras et al. 2022) -------------------------------------------------
def heun_step(score: Score, sde: SDE, x: Tensor, t_cur: float, t_next: float) -> Tensor:
    """Heun step of the PF ODE dx_hat/dsigma = (x_hat - D) / sigma (Karras et al. 2022, Alg. 1, lines 4-8)."""
    t, t2 = batch_times(t_cur, x), batch_times(t_next, x)
    s, s2 = per_sample(sde.s(t), x), per_sample(sde.s(t2), x)
    sigma, sigma2 = per_sample(sde.sigma(t), x), per_sample(sde.sigma(t2), x)
    x_hat = x / s
    d = (x_hat - denoise(score, sde, x, t)) / sigma
    x_hat2 = x_hat + (sigma2 - sigma) * d
    d2 = (x_hat2 - denoise(score, sde, s2 * x_hat2, t2)) / sigma2
    return s2 * (x_hat + (sigma2 - sigma) * (d + d2) / 2)


def ode_heun(score: Score, sde: SDE, x_T: Tensor, steps: int = 50, *, eps: float | None = None,
             generator: torch.Generator | None = None, callback: Callback | None = None,
             project: Project | None = None, resample: int = 0, progress: bool = False,
             rho: float = 7.0) -> Tensor:
    """Deterministic Heun sampler on the PF ODE, EDM sigma grid (Karras et al. 2022, Alg. 1): x_T -> x_0."""
    eps = _check_args(sde, x_T, steps, eps, resample)

    def step(x, t_cur, t_next):
        return heun_step(score, sde, x, t_cur, t_next)

    return _run(step, score, sde, x_T, edm_times(sde, steps, eps, rho=rho), generator=generator, project=project,
                resample=resample, callback=callback, progress=progress, desc="heun")


def stochastic_heun(score: Score, sde: SDE, x_T: Tensor, steps: int = 50, *, eps: float | None = None,
                    generator: torch.Generator | None = None, callback: Callback | None = None,
                    project: Project | None = None, resample: int = 0, progress: bool = False,
                    rho: float = 7.0, churn: float = 10.0, s_tmin: float = 0.0, s_tmax: float = math.inf,
                    s_noise: float = 1.0) -> Tensor:
    """Stochastic Heun with churn (Karras et al. 2022, Alg. 2); s_tmin, s_tmax are sigma bounds for churn."""
    eps = _check_args(sde, x_T, steps, eps, resample)
    if churn < 0 or s_noise < 0:
        raise ValueError(f"churn and s_noise must be >= 0, got churn={churn}, s_noise={s_noise}")
    gamma_max = min(churn / steps, math.sqrt(2) - 1)
    sigma_T = sde.sigma(torch.tensor(sde.T, dtype=torch.float64)).item()

    def step(x, t_cur, t_next):
        sigma = sde.sigma(torch.tensor(t_cur, dtype=torch.float64)).item()
        gamma = gamma_max if s_tmin <= sigma <= s_tmax else 0.0
        sigma_up = min(sigma * (1 + gamma), sigma_T)  # never beyond the SDE's horizon T
        if sigma_up > sigma:
            t_up = min(sde.sigma_inv(torch.tensor(sigma_up, dtype=torch.float64)).item(), sde.T)
            sigma_up = sde.sigma(torch.tensor(t_up, dtype=torch.float64)).item()
            s, s_up = sde.s(torch.tensor([t_cur, t_up], dtype=torch.float64)).tolist()
            # Raise the noise level of x_hat from sigma to sigma_up (Alg. 2, lines 5-6), back in x at t_up.
            extra = s_noise * math.sqrt(max(sigma_up ** 2 - sigma ** 2, 0.0))
            x = s_up * (x / s + extra * _noise(x, generator))
            t_cur = t_up
        return heun_step(score, sde, x, t_cur, t_next)

    return _run(step, score, sde, x_T, edm_times(sde, steps, eps, rho=rho), generator=generator, project=project,
                resample=resample, callback=callback, progress=progress, desc="stochastic_heun")


# --- adaptive ODE (scipy) ------------------------------------------------------------------------------------
def solve_ode(fun: Callable[[Tensor, float], Tensor], y0: Tensor, t0: float, t1: float, *, rtol: float,
              atol: float, callback: Callable[[int, float, Tensor], None] | None = None,
              progress: bool = False) -> Tensor:
    """Integrate dy/dt = fun(y, t) from t0 to t1 with scipy's RK45 (Dormand-Prince); y0 [B, ...] -> y(t1)."""
    shape, dtype, device = y0.shape, y0.dtype, y0.device

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        y = torch.from_numpy(y).reshape(shape).to(device=device, dtype=dtype)
        return fun(y, t).detach().reshape(-1).cpu().double().numpy()

    solver = RK45(rhs, t0, y0.detach().reshape(-1).cpu().double().numpy(), t1, rtol=rtol, atol=atol)
    bar = tqdm(total=abs(t1 - t0), desc="rk45", disable=not progress, leave=False)
    i = 0
    while solver.status == "running":
        message = solver.step()
        if solver.status == "failed":
            raise RuntimeError(f"RK45 failed at t={solver.t:.4g}: {message}")
        bar.update(abs(solver.t - solver.t_old))
        if callback is not None:
            callback(i, float(solver.t), torch.from_numpy(solver.y).reshape(shape).to(device=device, dtype=dtype))
        i += 1
    bar.close()
    return torch.from_numpy(solver.y).reshape(shape).to(device=device, dtype=dtype)


def ode_rk45(score: Score, sde: SDE, x_T: Tensor, *, eps: float | None = None,
             generator: torch.Generator | None = None, callback: Callback | None = None,
             project: Project | None = None, resample: int = 0, progress: bool = False,
             rtol: float = 1e-5, atol: float = 1e-5) -> Tensor:
    """PF ODE (Song et al. 2021, eq. 13) from T to eps by adaptive RK45, then Tweedie: x_T [B, ...] -> x_0.

    Adaptive steps cannot be projected or resampled: pass neither (ValueError). `callback(i, t, x)` runs after
    each accepted step; `generator` is unused (the solve is deterministic).
    """
    eps = _check_args(sde, x_T, 1, eps, resample)
    if project is not None or resample:
        raise ValueError("project and resample need a step sampler; rk45 is adaptive")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive, got {rtol}, {atol}")
    flow = sde.reverse(score, probability_flow=True)

    def fun(x, t):
        return flow.sde(x, batch_times(t, x))[0]

    x = solve_ode(fun, x_T, sde.T, eps, rtol=rtol, atol=atol, callback=callback, progress=progress)
    return denoise(score, sde, x, batch_times(eps, x))


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler_maruyama": euler_maruyama,
    "pc": predictor_corrector,
    "heun": ode_heun,
    "rk45": ode_rk45,
    "stochastic_heun": stochastic_heun,
}


def sample(score: Score, sde: SDE, shape: tuple[int, ...] | torch.Size, sampler: str = "heun", steps: int = 50, *,
           generator: torch.Generator | None = None, device: torch.device | str | None = None,
           dtype: torch.dtype = torch.float32, eps: float | None = None, progress: bool = False,
           callback: Callback | None = None, project: Project | None = None, resample: int = 0,
           x_init: Tensor | None = None, t_init: float | None = None,
           return_nfe: bool = False, **options) -> Tensor | tuple[Tensor, int]:
    """Draw x_T from the prior and run `sampler` ([B, ...] = shape); with return_nfe, also the NFE used.

    Warm start (SDEdit, Meng et al. 2022; CCDF, Chung et al. 2022): with x_init [B, ...] (a data-space guess,
    e.g. a classical restoration) and t_init in (eps, T], the run starts from x_init diffused to t_init by the
    forward marginal and covers only [eps, t_init]: `steps` then spans that interval, so the same steps cost
    the same NFE but are finer. If x_init ~ p_data the output is still ~ p_data (the marginal is exact).

    `options` go to the sampler (pc: predictor, snr, corrector_steps; heun: rho; stochastic_heun: rho, churn,
    s_tmin, s_tmax, s_noise; rk45: rtol, atol). `steps` is ignored by the adaptive rk45. `project(x, t [B])`
    gets the state's new time as a [B] tensor, `callback(i, t, x)` a float; both see x, not x_0.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    fn = SAMPLERS[sampler]
    params = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(params) - {"score", "sde", "x_T"})
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for sampler {sampler!r}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps}")
    counted = _Counted(score)
    if x_init is None:
        if t_init is not None:
            raise ValueError("t_init needs x_init (the guess to start from)")
        x_T = sde.prior_sample(shape, generator=generator, device=device, dtype=dtype)
    else:
        if t_init is None:
            raise ValueError("x_init needs t_init, the time to diffuse it to")
        if tuple(x_init.shape) != tuple(shape):
            raise ValueError(f"x_init has shape {tuple(x_init.shape)}, expected {tuple(shape)}")
        if not _check_eps(sde, eps) < t_init <= sde.T:
            raise ValueError(f"t_init must lie in (eps, T={sde.T}], got {t_init}")
        mean, std = sde.marginal(x_init.to(device=device, dtype=dtype), float(t_init))
        x_T = mean + std * _noise(mean, generator)
        sde = Truncated(sde, float(t_init))
    if "steps" in params:
        options["steps"] = int(steps)
    x0 = fn(counted, sde, x_T, eps=eps, generator=generator, callback=callback, project=project,
            resample=resample, progress=progress, **options)
    return (x0, counted.nfe) if return_nfe else x0
