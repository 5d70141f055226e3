"""AudioDiffusion end to end on tiny models: generation, long-form, inpainting and bandwidth extension.

The waveform model is the tiny U-Net trained in-process for 40 steps on 0.125 s piano crops (~2 s on one
core); the log-mel model is saved untrained. Quality is not the point here: exactness of the kept parts,
shapes, rates, determinism, bounded working memory and seam-free long-form windows are.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import audiodiff as ad
from audiodiff.checkpoint import save_model
from audiodiff.config import Config, FrontendConfig, build_frontend, build_model
from audiodiff import longform
from audiodiff.longform import window_starts
from audiodiff.metrics import lsd
from audiodiff.operators import LowPass
from audiodiff.pipeline import AudioDiffusion, ModelNotFoundError

DATA = Path(__file__).parent / "data"
SR = 16000
FAST = dict(steps=6, resample=0)


@pytest.fixture(scope="module")
def piano() -> torch.Tensor:
    return ad.load_audio(DATA / "piano.wav")[0]  # [1, 48000]


def tiny_pipe(directory: Path, piano: torch.Tensor, **frontend) -> AudioDiffusion:
    """The tiny waveform model, 0.125 s training clips, 40 AdamW steps of DSM on piano crops."""
    torch.manual_seed(0)
    config = Config()
    config.train.seconds, config.sample.steps = 0.125, 6
    for key, value in frontend.items():
        setattr(config.frontend, key, value)
    frontend = build_frontend(config.frontend)
    model = build_model(config, frontend)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(40):
        starts = torch.randint(0, piano.shape[-1] - 2000, (8,), generator=g).tolist()
        crops = torch.stack([piano[:, s:s + 2000] for s in starts]) * 3
        loss = ad.dsm_loss(model, frontend.encode(crops), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return AudioDiffusion.from_pretrained(save_model(directory / "tiny", model, frontend, config, step=40))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory, piano) -> AudioDiffusion:
    return tiny_pipe(tmp_path_factory.mktemp("model"), piano)


@pytest.fixture(scope="module")
def pre_pipe(tmp_path_factory, piano) -> AudioDiffusion:
    """The same with a pre-emphasis front end (x = 2 (wav[n] - 0.9 wav[n-1]))."""
    return tiny_pipe(tmp_path_factory.mktemp("model"), piano, preemphasis=0.9, scale=2.0)


def test_missing_model_is_a_one_line_error_saying_how_to_train():
    with pytest.raises(ModelNotFoundError, match="audiodiff train") as e:
        AudioDiffusion.from_pretrained("no-such-model")
    assert "\n" not in str(e.value)


def test_generate_shapes_and_seeds(pipe):
    a = pipe.generate(n=2, seconds=0.1, seed=1)
    assert a.shape == (2, 1, 1600) and torch.isfinite(a).all()
    assert torch.equal(a, pipe.generate(n=2, seconds=0.1, seed=1))
    assert not torch.equal(a, pipe.generate(n=2, seconds=0.1, seed=2))
    with pytest.raises(ValueError, match="unconditional"):
        pipe.generate(n=1, labels="piano")


def test_classifier_free_guidance_mixes_conditional_and_null_scores():
    config = Config(label_names=["a", "b"])
    config.train.seconds, config.sample.steps = 0.05, 3
    frontend = build_frontend(config.frontend)
    model = build_model(config, frontend)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # leave the zero-initialised output: make labels matter
            p.add_(0.05 * torch.randn_like(p))
    pipe = AudioDiffusion(model.eval(), frontend, config)
    x, t = torch.randn(2, 1, 800), torch.full((2,), 0.5)
    labels = pipe.labels_tensor(["a", "b"], 2)
    with torch.no_grad():
        cond, null = model.score(x, t, labels), model.score(x, t, torch.full((2,), -1))
        assert torch.allclose(pipe.score(labels, 3.0)(x, t), null + 3 * (cond - null), atol=1e-5)
        assert torch.equal(pipe.score(labels, 1.0)(x, t), cond)
    assert not torch.equal(pipe.generate(n=1, labels="a", guidance=2), pipe.generate(n=1, labels="b", guidance=2))
    with pytest.raises(ValueError, match="unknown label"):
        pipe.generate(n=1, labels="c")


def test_long_form_generation_is_seamless_with_flat_memory(pipe):
    """10x the training length: the net only ever sees window-long inputs, and the LSD between the 256-sample
    segments either side of each seam is no worse than between segments either side of a window's middle.
    Measured over 4 clips: seams 1.007, inside 1.015 (tiny model; n_fft 256, hop 64)."""
    seen = set()
    hook = pipe.model.net.register_forward_pre_hook(lambda mod, args: seen.add(args[0].shape[-1]))
    try:
        wav = pipe.generate(n=4, seconds=1.25, seed=0, sampler="euler_maruyama", steps=10, resample=1)
    finally:
        hook.remove()
    assert wav.shape == (4, 1, 20000) and torch.isfinite(wav).all()
    assert seen == {pipe.window}
    spans = window_starts(20000, window=pipe.window, overlap=pipe.overlap(0.25))
    seams = [prev[1] for prev in spans[:-1]]
    middles = [(s + e) // 2 + 250 for s, e in spans[1:-1]]  # inside the generated part, away from seams

    def across(points):
        left = torch.stack([wav[..., p - 256:p] for p in points])
        right = torch.stack([wav[..., p:p + 256] for p in points])
        return lsd(left, right, n_fft=256, hop_length=64).mean().item()

    assert across(seams) <= 1.1 * across(middles)


def test_inpaint_keeps_everything_outside_the_gaps_bit_identical(pipe, piano):
    wav = piano[:, :8000]
    out = pipe.inpaint(wav, SR, gaps=[(0.2, 0.23), (0.4, 0.41)], **FAST)
    known = ad.Mask.from_gaps([(0.2, 0.23), (0.4, 0.41)], length=8000, rate=SR).known
    assert out.shape == (1, 1, 8000)
    assert torch.equal(out[0, :, known], wav[:, known])
    assert not torch.equal(out[0, :, ~known], torch.zeros_like(out[0, :, ~known]))
    with pytest.raises(ValueError, match="gap"):
        pipe.inpaint(wav, SR, gaps=[(0.4, 0.6)])
    with pytest.warns(UserWarning, match="unconditional generation"):
        whole = pipe.inpaint(wav, SR, gaps=[(0, 0.5)], **FAST)
    assert whole.shape == (1, 1, 8000) and torch.isfinite(whole).all()


def test_average_is_a_posterior_mean_estimate(pipe, piano):
    """average=K fills with the mean of K posterior samples: two seeds' fills differ by about 1/sqrt(K) as much
    as single samples do (0.35 at K = 8; asserted < 0.6), known samples stay bit-identical, and K < 1 is an error."""
    wav, gaps = piano[:, :8000], [(0.2, 0.23)]
    known = ad.Mask.from_gaps(gaps, length=8000, rate=SR).known
    fill = lambda seed, k: pipe.inpaint(wav, SR, gaps=gaps, average=k, seed=seed, **FAST)[0]  # noqa: E731
    spread = {k: (fill(0, k) - fill(1, k))[:, ~known].norm().item() for k in (1, 8)}
    assert 0 < spread[8] < 0.6 * spread[1], spread
    assert torch.equal(fill(2, 8)[:, known], wav[:, known])
    assert torch.equal(fill(3, 1), pipe.inpaint(wav, SR, gaps=gaps, seed=3, **FAST)[0])
    with pytest.raises(ValueError, match="average"):
        pipe.inpaint(wav, SR, gaps=gaps, average=0)


def test_preemphasis_model_inpaints_bit_exactly_and_warm_starts(pre_pipe, piano):
    """The fill is decoded by least squares beside the known audio: known samples stay bit-identical
    (also by windows), and a warm start at a small t_init stays near the LPC fill."""
    wav, gaps = piano[:, :8000], [(0.2, 0.23), (0.4, 0.41)]
    known = ad.Mask.from_gaps(gaps, length=8000, rate=SR).known
    near = pre_pipe.inpaint(wav, SR, gaps=gaps, init="lpc", t_init=0.02, **FAST)[0]
    cold = pre_pipe.inpaint(wav, SR, gaps=gaps, **FAST)[0]
    assert torch.equal(near[:, known], wav[:, known]) and torch.equal(cold[:, known], wav[:, known])
    lpc = ad.lpc_fill(wav, known)[:, ~known]
    assert (near[:, ~known] - lpc).norm() < 0.3 * (cold[:, ~known] - lpc).norm()
    long_gaps = [(0.55, 0.57), (1.2, 1.3)]  # 16 windows of 0.125 s
    out = pre_pipe.inpaint(piano[:, :24000], SR, gaps=long_gaps, **FAST)
    known = ad.Mask.from_gaps(long_gaps, length=24000, rate=SR).known
    assert torch.equal(out[0, :, known], piano[:, :24000][:, known]) and torch.isfinite(out).all()


def test_preemphasis_model_extends_keeping_the_low_band(pre_pipe, piano):
    brickwall = LowPass(4000, SR, kind="ideal")
    wav = LowPass(4000, SR)(piano[None, :, :8000])[0]
    out = pre_pipe.extend(wav, SR, cutoff_hz=4000, **FAST)[0]
    assert ((brickwall(out[None]) - brickwall(wav[None])).norm() / brickwall(wav[None]).norm()).item() < 1e-5
    assert lsd(out, wav, band="high", cutoff_hz=4500, sample_rate=SR).item() > 0.5  # the high band changed


def test_inpaint_converts_rate_and_channels(pipe, piano):
    stereo = ad.resample(piano[:, :8000], SR, 22050).expand(2, -1)  # 22.05 kHz stereo in
    out = pipe.inpaint(stereo, 22050, gaps=[(0.2, 0.22)], **FAST)
    expected = ad.resample(stereo.mean(0, keepdim=True), 22050, SR)  # mono at the model's rate
    known = ad.Mask.from_gaps([(0.2, 0.22)], length=expected.shape[-1], rate=SR).known
    assert out.shape == (1, 1, expected.shape[-1])
    assert torch.equal(out[0, :, known], expected[:, known])


def test_inpaint_keep_rate_returns_the_input_format_with_lpc_above_the_model_band(pipe, piano):
    """keep_rate: 44.1 kHz stereo comes back as 44.1 kHz stereo, every sample outside the gap bit-identical,
    each channel filled (as mid and side). The gap also gets the band above the 16 kHz model's 8 kHz (LPC at the input's rate): a
    12 kHz tone runs on through a 10 ms gap, where the model's fill alone, resampled, would hold none of it."""
    sr, n, gaps = 44100, 22050, [(0.2, 0.21)]
    low = ad.resample(piano[:, :8000], SR, sr)[:, :n]
    tone = 0.05 * torch.sin(2 * math.pi * 12000 * torch.arange(n) / sr)
    stereo = torch.cat([low + tone, 0.5 * low - tone])
    known = ad.Mask.from_gaps(gaps, length=n, rate=sr).known
    out = pipe.inpaint(stereo, sr, gaps=gaps, keep_rate=True, seed=0, **FAST)[0]
    assert out.shape == (2, n) and torch.equal(out[:, known], stereo[:, known])
    assert torch.equal(out, pipe.inpaint(stereo, sr, mask=known, keep_rate=True, seed=0, **FAST)[0])

    def high_band_error(x: torch.Tensor) -> float:  # the gap's band above 10 kHz against the true tone
        high = x - ad.resample(ad.resample(x, sr, 20000), 20000, sr)[:, :n]
        truth = torch.stack([tone, -tone])
        return ((high - truth)[:, ~known].norm() / truth[:, ~known].norm()).item()

    model_only = ad.resample(pipe.inpaint(stereo, sr, gaps=gaps, seed=0, **FAST)[0], SR, sr)[:, :n]
    assert high_band_error(out) < 0.3 and high_band_error(torch.where(known, stereo, model_only)) > 0.9
    with pytest.raises(ValueError, match="mask must have shape"):
        pipe.inpaint(stereo, sr, mask=known[:-1], keep_rate=True)
    # stereo is filled as mid and side: a dual-mono input stays dual-mono, gap included
    dual = pipe.inpaint(low.expand(2, -1), sr, gaps=gaps, keep_rate=True, **FAST)[0]
    assert torch.equal(dual[0], dual[1]) and not torch.equal(dual[0, ~known], low[0, ~known])


def test_extend_keep_rate_puts_the_model_band_into_the_input(pipe, piano):
    """keep_rate: 44.1 kHz stereo comes back as 44.1 kHz stereo. Below the cutoff and above the 16 kHz model's
    8 kHz (a 12 kHz tone) it is the input; between them, the model's own extension of mid and side, resampled.
    A dual-mono input stays dual-mono; an 8 kHz input comes back at the model's 16 kHz."""
    sr, n, cutoff = 44100, 22050, 3000.0
    low = ad.LowPass(cutoff, sr, kind="ideal")(ad.resample(piano[:, :8000], SR, sr)[:, :n])
    tone = 0.05 * torch.sin(2 * math.pi * 12000 * torch.arange(n) / sr)
    stereo = torch.cat([low + tone, 0.5 * low - tone])
    out = pipe.extend(stereo, sr, cutoff_hz=cutoff, keep_rate=True, seed=0, **FAST)[0]
    assert out.shape == (2, n)

    def band(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        freqs = torch.fft.rfftfreq(x.shape[-1], 1 / sr)
        return torch.fft.irfft(torch.fft.rfft(x) * ((freqs >= lo) & (freqs < hi)), x.shape[-1])

    assert band(out - stereo, 0, cutoff).abs().max() < 1e-5
    assert band(out - stereo, 8000, sr / 2).abs().max() < 1e-5  # the 12 kHz tone is kept
    mid_side = torch.stack([stereo.mean(0), (stereo[0] - stereo[1]) / 2])[:, None]
    made = ad.resample(pipe.extend(mid_side, sr, cutoff_hz=cutoff, seed=0, **FAST)[:, 0], SR, sr)[:, :n]
    made = torch.stack([made[0] + made[1], made[0] - made[1]])
    generated = band(out, cutoff, 8000)
    assert generated.abs().max() > 1e-3 and (generated - band(made, cutoff, 8000)).abs().max() < 1e-5
    dual = pipe.extend(low.expand(2, -1), sr, cutoff_hz=cutoff, keep_rate=True, **FAST)[0]
    assert torch.equal(dual[0], dual[1])
    # a near-mono file (side 40 dB below the mid, like codec noise) gets one band in both channels, its own side kept
    side = ad.LowPass(cutoff, sr, kind="ideal")(torch.randn(1, n, generator=torch.Generator().manual_seed(0)))
    side *= 0.01 * low.pow(2).mean().sqrt() / side.pow(2).mean().sqrt()
    near = pipe.extend(torch.cat([low + side, low - side]), sr, cutoff_hz=cutoff, keep_rate=True, **FAST)[0]
    assert band(near[0] - near[1], cutoff, 8000).abs().max() < 1e-5
    assert (band(near[0] - near[1], 0, cutoff) - 2 * side).abs().max() < 1e-5
    narrow = ad.resample(piano[:, :8000], SR, 8000)
    assert pipe.extend(narrow, 8000, cutoff_hz=cutoff, keep_rate=True, **FAST).shape == (1, 1, 8000)


@pytest.mark.parametrize("task", ["inpaint", "extend"])
def test_keep_rate_batches_mix_stereo_and_dual_mono(pipe, piano, task):
    """A batch [B, 2, n] whose items differ: the dual-mono one stays dual-mono, the stereo ones are restored as
    mid and side, each item as it would be alone in shape."""
    sr, n = 44100, 11025
    low = ad.resample(piano[:, :4000], SR, sr)[:, :n]
    batch = torch.stack([torch.cat([low, 0.5 * low]), low.expand(2, -1), torch.cat([0.3 * low, -low])])
    run = (lambda x: pipe.inpaint(x, sr, gaps=[(0.1, 0.12)], keep_rate=True, **FAST)) if task == "inpaint" else \
        (lambda x: pipe.extend(x, sr, cutoff_hz=3000.0, keep_rate=True, **FAST))
    out = run(batch)
    assert out.shape == batch.shape and torch.equal(out[1, 0], out[1, 1]) and not torch.equal(out[0, 0], out[0, 1])


def test_long_inpaint_by_windows_keeps_known_samples_and_samples_only_the_gaps_windows(pipe, piano, monkeypatch):
    """A window with nothing unknown is copied, not sampled: cost follows the gaps, not the file's length."""
    gaps = [(0.5, 0.52), (1.7, 1.75)]  # 2.5 s = 20 windows of 0.125 s
    solved = []
    real_solve = longform.solve
    monkeypatch.setattr(longform, "solve", lambda *a, **k: solved.append(1) or real_solve(*a, **k))
    out = pipe.inpaint(piano[:, :40000], SR, gaps=gaps, **FAST)
    known = ad.Mask.from_gaps(gaps, length=40000, rate=SR).known
    assert torch.equal(out[0, :, known], piano[:, :40000][:, known])
    spans = window_starts(40000, window=pipe.window, overlap=pipe.overlap(0.25))
    holding = [(s, e) for s, e in spans if not known[s:e].all()]
    assert len(spans) >= 20 and 2 <= len(solved) == len(holding) <= 4


def test_inpaint_warm_start_from_a_classical_fill(pipe, piano):
    """init="lpc": a small t_init stays near the LPC fill, t_init = T is a cold start; windows get their slice."""
    wav, gaps = piano[:, :8000], [(0.2, 0.23)]
    known = ad.Mask.from_gaps(gaps, length=8000, rate=SR).known
    lpc = ad.lpc_fill(wav, known)
    gap = lambda x: x[..., ~known].flatten()  # noqa: E731
    near = pipe.inpaint(wav, SR, gaps=gaps, init="lpc", t_init=0.02, **FAST)[0]
    cold = pipe.inpaint(wav, SR, gaps=gaps, **FAST)[0]
    assert torch.equal(near[:, known], wav[:, known])
    assert (gap(near) - gap(lpc)).norm() < 0.2 * (gap(cold) - gap(lpc)).norm()
    long, long_gaps = piano[:, :16000], [(0.55, 0.57)]  # 8 windows
    near = pipe.inpaint(long, SR, gaps=long_gaps, init="lpc", t_init=0.02, **FAST)[0]
    cold = pipe.inpaint(long, SR, gaps=long_gaps, **FAST)[0]
    known = ad.Mask.from_gaps(long_gaps, length=16000, rate=SR).known
    lpc = ad.lpc_fill(long, known)
    assert (gap(near) - gap(lpc)).norm() < 0.3 * (gap(cold) - gap(lpc)).norm()
    with pytest.raises(ValueError, match="init"):
        pipe.inpaint(wav, SR, gaps=gaps, init="cubic", t_init=0.5)
    with pytest.raises(ValueError, match="t_init"):
        pipe.inpaint(wav, SR, gaps=gaps, init="lpc")


def test_inpaint_warm_start_from_given_audio(pipe, piano):
    """init=audio: the guess's gaps seed the warm start (an LPC fill given as audio is init="lpc" exactly),
    its known samples are ignored, and a guess of another shape is a clear error; with keep_rate, the guess
    goes through the same stereo split as the input."""
    wav, gaps = piano[:, :8000], [(0.2, 0.23)]
    known = ad.Mask.from_gaps(gaps, length=8000, rate=SR).known
    lpc = ad.lpc_fill(wav, known)
    named = pipe.inpaint(wav, SR, gaps=gaps, init="lpc", t_init=0.02, **FAST)[0]
    given = pipe.inpaint(wav, SR, gaps=gaps, init=torch.where(known, wav + 1.0, lpc), t_init=0.02, **FAST)[0]
    assert torch.equal(given, named)
    truth = pipe.inpaint(wav, SR, gaps=gaps, init=wav, t_init=0.02, **FAST)[0]
    gap = lambda x: x[..., ~known].flatten()  # noqa: E731
    assert (gap(truth) - gap(wav)).norm() < 0.5 * (gap(named) - gap(wav)).norm()
    with pytest.raises(ValueError, match="init audio"):
        pipe.inpaint(wav, SR, gaps=gaps, init=wav[:, :4000], t_init=0.02)
    with pytest.raises(ValueError, match="init audio contains NaN"):
        pipe.inpaint(wav, SR, gaps=gaps, init=torch.full_like(wav, float("nan")), t_init=0.02, keep_rate=True)
    kept = pipe.inpaint(wav, SR, gaps=gaps, init=lpc, t_init=0.02, keep_rate=True, **FAST)[0]
    assert torch.equal(kept, pipe.inpaint(wav, SR, gaps=gaps, init="lpc", t_init=0.02, keep_rate=True, **FAST)[0])
    stereo = torch.cat([wav, 0.5 * wav.roll(300, -1)])  # a real side: mid and side each get their slice of init
    mid, side = (ad.lpc_fill(c, known[None]) for c in (stereo.mean(0, keepdim=True), (stereo[:1] - stereo[1:]) / 2))
    kept = pipe.inpaint(stereo, SR, gaps=gaps, init=torch.cat([mid + side, mid - side]), t_init=0.02,
                        keep_rate=True, **FAST)[0]  # init="lpc" fills mid and side by LPC each: the same up to rounding
    named = pipe.inpaint(stereo, SR, gaps=gaps, init="lpc", t_init=0.02, keep_rate=True, **FAST)[0]
    assert torch.allclose(kept, named, atol=1e-4) and not torch.allclose(kept[0], kept[1], atol=1e-2)
    with pytest.raises(ValueError, match="init audio"):
        pipe.inpaint(stereo, SR, gaps=gaps, init=wav, t_init=0.02, keep_rate=True)


def test_shipped_task_defaults_apply_unless_overridden(pipe, piano, monkeypatch):
    """config.sample.inpaint holds the model's inpainting defaults; arguments win, init="none" turns the warm
    start off; an unknown key is a clear error."""
    monkeypatch.setattr(pipe.config.sample, "inpaint", dict(sampler="heun", steps=3, resample=0, init="lpc",
                                                             t_init=0.02, eps=0.005))
    wav, gaps = piano[:, :8000], [(0.2, 0.23)]
    assert pipe.task_options("inpaint", dict(steps=None, sampler="euler_maruyama")) == dict(
        sampler="euler_maruyama", steps=3, resample=0, init="lpc", t_init=0.02, eps=0.005)
    assert "init" not in pipe.task_options("inpaint", dict(init="none"))
    default = pipe.inpaint(wav, SR, gaps=gaps)
    assert torch.equal(default, pipe.inpaint(wav, SR, gaps=gaps, init="lpc", t_init=0.02, sampler="heun", steps=3,
                                             resample=0, eps=0.005))
    assert not torch.equal(default, pipe.inpaint(wav, SR, gaps=gaps, eps=0.001))  # the final time is honoured
    off = pipe.inpaint(wav, SR, gaps=gaps, init="none")
    monkeypatch.setattr(pipe.config.sample, "inpaint", dict(sampler="heun", steps=3, resample=0, eps=0.005))
    assert torch.equal(off, pipe.inpaint(wav, SR, gaps=gaps))
    monkeypatch.setattr(pipe.config.sample, "inpaint", dict(stepz=3))
    with pytest.raises(ValueError, match="stepz"):
        pipe.inpaint(wav, SR, gaps=gaps)


def test_extend_warm_start_from_the_observation(pipe, piano):
    wav = LowPass(4000, SR)(piano[None, :, :8000])[0]
    near = pipe.extend(wav, SR, cutoff_hz=4000, init="observed", t_init=0.02, **FAST)[0]
    cold = pipe.extend(wav, SR, cutoff_hz=4000, **FAST)[0]
    assert (near - wav).norm() < 0.2 * (cold - wav).norm()
    with pytest.raises(ValueError, match="observed"):
        pipe.extend(wav, SR, cutoff_hz=4000, init="lpc", t_init=0.5)


@pytest.mark.parametrize("kind, leak", [("fir", 0.05), ("cheby1", 0.1)])
def test_extend_keeps_the_band_below_the_cutoff(pipe, piano, kind, leak):
    """The FFT bins below the cutoff are the input's (relative error measured 7e-7, float32); through the
    `kind` filter used during sampling, the low band differs by its transition-band leakage (measured:
    fir 0.03, cheby1 0.06)."""
    lowpass, brickwall = LowPass(4000, SR, kind=kind), LowPass(4000, SR, kind="ideal")
    wav = lowpass(piano[None, :, :8000])[0]
    out = pipe.extend(wav, SR, cutoff_hz=4000, kind=kind, **FAST)[0]

    def low_band_error(op):
        return ((op(out[None]) - op(wav[None])).norm() / op(wav[None]).norm()).item()

    assert low_band_error(brickwall) < 1e-5
    assert low_band_error(lowpass) < leak
    assert lsd(out, wav, band="high", cutoff_hz=4500, sample_rate=SR).item() > 0.5  # the high band changed
    with pytest.raises(ValueError, match="Nyquist"):
        pipe.extend(wav, SR, cutoff_hz=9000)


def test_extend_keeps_digital_silence_silent(pipe, piano):
    """Padding of digital silence around the sound stays exactly silent (the gate), the sound gets a high band,
    and no sample near the edges jumps (the gate ramps over a frame)."""
    sound = LowPass(4000, SR)(piano[None, :, :4000])[0]
    wav = torch.cat([torch.zeros(1, 4000), sound, torch.zeros(1, 4000)], dim=-1)
    out = pipe.extend(wav, SR, cutoff_hz=4000, **FAST)[0]
    assert out[:, :3500].abs().max() == 0 and out[:, -3500:].abs().max() == 0
    assert lsd(out[:, 4500:7500], wav[:, 4500:7500], band="high", cutoff_hz=4500, sample_rate=SR) > 0.5
    ungated = pipe.extend(wav, SR, cutoff_hz=4000, silence_db=None, **FAST)[0]
    assert ungated[:, :3500].abs().max() > 1e-4  # without the gate the model's noise floor fills the padding
    gate = ad.audio.silence_gate(wav[None], SR)[0, 0]
    assert gate.min() == 0 and gate.max() == 1 and gate.diff().abs().max() <= 1 / 160 + 1e-6


@pytest.fixture(scope="module")
def mel_pipe(tmp_path_factory) -> AudioDiffusion:
    """An untrained log-mel model (n_fft 512, hop 128, 40 bands, 0.25 s clips, 8 Griffin-Lim iterations)."""
    config = Config(frontend=FrontendConfig(name="logmel", n_fft=512, hop_length=128, n_mels=40,
                                            griffin_lim_iters=8))
    config.train.seconds, config.sample.steps = 0.25, 4
    frontend = build_frontend(config.frontend)
    directory = save_model(tmp_path_factory.mktemp("mel") / "mel", build_model(config, frontend), frontend, config)
    return AudioDiffusion.from_pretrained(directory)


def test_log_mel_inpainting_masks_frames_and_keeps_audio_outside_gaps(mel_pipe, piano):
    wav = piano[:, :8000]
    known = ad.Mask.from_gaps([(0.2, 0.25)], length=8000, rate=SR).known
    frames = mel_pipe.frontend.observed(known[None, None])
    assert frames.shape == (1, 1, 8000 // 128 + 1)
    # a frame is unknown iff its centred 512-sample window touches the gap [3200, 4000)
    assert [i for i in range(frames.shape[-1]) if not frames[0, 0, i]] == list(range(24, 34))
    out = mel_pipe.inpaint(wav, SR, gaps=[(0.2, 0.25)], **FAST)
    assert torch.equal(out[0, :, known], wav[:, known])


def test_log_mel_extension_masks_bands_above_the_cutoff(mel_pipe, piano):
    bands = mel_pipe.known_bands(4000).flatten()
    centres = mel_pipe.frontend.filters.argmax(0) * SR / 512
    assert bands.any() and not bands.all()
    assert (centres[bands] < 4000).all() and bands.tolist() == sorted(bands.tolist(), reverse=True)
    lowpass = LowPass(4000, SR)
    wav = lowpass(piano[None, :, :8000])[0]
    out = mel_pipe.extend(wav, SR, cutoff_hz=4000, **FAST)[0]
    brickwall = LowPass(4000, SR, kind="ideal")
    assert (brickwall(out[None]) - brickwall(wav[None])).norm() / brickwall(wav[None]).norm() < 1e-5


def test_restoration_works_at_the_training_level_whatever_the_input_level(pipe, piano):
    """inpaint / extend first bring the input to the training set's level (a -1 dBFS peak here) and undo the
    gain after, so scaling the input scales the output and nothing else (same seed)."""
    clip = piano[:, 8000:10000]
    options = dict(sampler="heun", steps=4, seed=3)
    for run in (lambda w: pipe.inpaint(w, 16000, gaps=[(0.05, 0.07)], **options),
                lambda w: pipe.extend(w, 16000, cutoff_hz=4000, **options)):
        loud, quiet = run(clip), run(clip * 0.01)
        assert torch.allclose(quiet * 100, loud, atol=1e-4, rtol=1e-3)
