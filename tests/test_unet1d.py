"""UNet1d: shapes for any length and batch, conditioning, zero init, gradients, presets, config, errors."""
from __future__ import annotations

import json
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import audiodiff.nets.unet1d as unet1d_module
from audiodiff.nets import PRESETS, UNet1d


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def perturb_zero_init(net: UNet1d, seed: int = 0) -> None:
    """Give the zero-initialised output layer random weights, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.out_conv.weight.copy_(torch.randn(net.out_conv.weight.shape, generator=g) * 0.1)
        net.out_conv.bias.copy_(torch.randn(net.out_conv.bias.shape, generator=g) * 0.1)


@pytest.fixture(scope="module")
def cond_net() -> UNet1d:
    torch.manual_seed(0)
    net = UNet1d.preset("tiny", 1, num_classes=3).eval()
    perturb_zero_init(net)
    return net


@pytest.mark.parametrize("batch,channels,length", [(1, 1, 1), (1, 1, 7), (1, 1, 1001), (3, 2, 4097), (2, 80, 37)])
def test_any_length_and_batch(batch, channels, length):
    net = UNet1d.preset("tiny", channels).eval()
    perturb_zero_init(net)
    x = torch.randn(batch, channels, length)
    with torch.no_grad():
        y = net(x, torch.randn(batch))
    assert y.shape == (batch, channels, length)
    assert torch.isfinite(y).all()


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 3), length=st.integers(1, 2000))
def test_shapes_property(batch, channels, length):
    net = _small_nets(channels)
    with torch.no_grad():
        y = net(torch.randn(batch, channels, length), torch.randn(batch))
    assert y.shape == (batch, channels, length) and torch.isfinite(y).all()


_cache: dict[int, UNet1d] = {}


def _small_nets(channels: int) -> UNet1d:
    """One perturbed tiny net per channel count, built once (hypothesis calls many times)."""
    if channels not in _cache:
        _cache[channels] = UNet1d.preset("tiny", channels).eval()
        perturb_zero_init(_cache[channels])
    return _cache[channels]


@pytest.mark.parametrize("kwargs", [
    dict(channels=(8,), factors=(1,), blocks=(1,), attention=(True,), head_channels=8),
    dict(channels=(8, 16, 16), factors=(3, 1, 5), blocks=(1, 0, 2), attention=(False, True, True), head_channels=8),
])
def test_other_layouts(kwargs):
    net = UNet1d(2, **kwargs).eval()
    perturb_zero_init(net)
    with torch.no_grad():
        y = net(torch.randn(2, 2, 101), torch.randn(2))
    assert y.shape == (2, 2, 101) and torch.isfinite(y).all() and y.abs().max() > 0


def test_out_channels_and_scalar_c_noise():
    net = UNet1d.preset("tiny", 2, out_channels=4)
    assert net(torch.randn(2, 2, 300), torch.tensor(0.3)).shape == (2, 4, 300)


def test_zero_output_at_init():
    net = UNet1d.preset("tiny", 1, num_classes=2)
    with torch.no_grad():
        y = net(torch.randn(2, 1, 999), torch.randn(2), torch.tensor([0, -1]))
    assert torch.count_nonzero(y) == 0


def test_samples_do_not_interact(cond_net):
    """GroupNorm and attention are per sample: a batch equals its samples run one by one."""
    x, c, labels = torch.randn(3, 1, 640), torch.randn(3), torch.tensor([0, 2, -1])
    with torch.no_grad():
        joint = cond_net(x, c, labels)
        alone = torch.cat([cond_net(x[i:i + 1], c[i:i + 1], labels[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(joint, alone, rtol=1e-4, atol=1e-5)


def test_noise_level_changes_output(cond_net):
    x = torch.randn(1, 1, 512)
    with torch.no_grad():
        a, b = cond_net(x, torch.tensor([-1.0])), cond_net(x, torch.tensor([0.5]))
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_labels_and_null_class(cond_net):
    x, c = torch.randn(1, 1, 512).expand(4, -1, -1), torch.full((4,), 0.2)
    with torch.no_grad():
        y = cond_net(x, c, torch.tensor([0, 1, -1, 2]))
        y_none = cond_net(x[:1], c[:1], None)
    scale = y.abs().max()
    for i, j in [(0, 1), (0, 2), (1, 2), (3, 2), (0, 3)]:
        assert (y[i] - y[j]).abs().max() > 1e-3 * scale, (i, j)
    torch.testing.assert_close(y_none[0], y[2])  # None and -1 both mean the null class


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    net = UNet1d.preset("tiny", 1, num_classes=2)
    perturb_zero_init(net)
    x = torch.randn(2, 1, 777)
    loss = (net(x, torch.randn(2), torch.tensor([0, 1])) - x).square().mean() + \
        net(x[:1], torch.randn(1), torch.tensor([-1])).square().mean()
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_preset_counts_match_documentation():
    documented = {name: int(count.replace(",", "")) for name, count in
                  re.findall(r'"(\w+)":\s+([\d,]+) parameters', unet1d_module.__doc__)}
    assert set(documented) == set(PRESETS)
    for name, count in documented.items():
        assert n_params(UNet1d.preset(name, 1)) == count, name
    assert n_params(UNet1d.preset("tiny", 1)) < 500_000


def test_config_round_trip(cond_net):
    config = json.loads(json.dumps(cond_net.config()))
    rebuilt = UNet1d(**config).eval()
    assert rebuilt.config() == cond_net.config()
    rebuilt.load_state_dict(cond_net.state_dict())  # strict: same parameter names and shapes
    x, c = torch.randn(2, 1, 300), torch.randn(2)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, c, torch.tensor([1, -1])), cond_net(x, c, torch.tensor([1, -1])))


def test_bf16_autocast_matches_fp32(cond_net):
    """Under CPU bf16 autocast (convs and matmuls in bf16) the output stays within 5% of fp32."""
    x, c, labels = torch.randn(2, 1, 1000), torch.randn(2), torch.tensor([0, -1])
    with torch.no_grad():
        y32 = cond_net(x, c, labels)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y16 = cond_net(x, c, labels)
    assert y16.shape == y32.shape
    assert (y16.float() - y32).norm() < 0.05 * y32.norm()


def test_dropout_only_in_training():
    net = UNet1d.preset("tiny", 1, dropout=0.5)
    perturb_zero_init(net)
    x, c = torch.randn(1, 1, 256), torch.zeros(1)
    with torch.no_grad():
        assert not torch.equal(net.train()(x, c), net(x, c))
        assert torch.equal(net.eval()(x, c), net(x, c))


@pytest.mark.parametrize("kwargs,name", [
    (dict(channels=(8, 16), factors=(4,), blocks=(1, 1), attention=(False, False)), "factors"),
    (dict(channels=(8, 16), factors=(4, 2), blocks=(1, 1, 1), attention=(False, False)), "blocks"),
    (dict(channels=(8, 16), factors=(4, 2), blocks=(1, 1), attention=(False,)), "attention"),
    (dict(channels=(8, 16), factors=(4, 0), blocks=(1, 1), attention=(False, False)), "factors"),
    (dict(channels=(), factors=(), blocks=(), attention=()), "channels"),
    (dict(channels=(8, 16), factors=(4, 2), blocks=(1, 1), attention=(False, True)), "head_channels"),
    (dict(num_classes=0), "num_classes"),
    (dict(dropout=1.0), "dropout"),
    (dict(kernel_size=4), "kernel_size"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        UNet1d(1, **kwargs)


def test_bad_call_arguments():
    net = UNet1d.preset("tiny", 1)
    with pytest.raises(ValueError, match="labels"):
        net(torch.randn(1, 1, 64), torch.zeros(1), torch.tensor([0]))
    with pytest.raises(ValueError, match="x"):
        net(torch.randn(1, 2, 64), torch.zeros(1))
    with pytest.raises(ValueError, match="c_noise"):
        net(torch.randn(2, 1, 64), torch.zeros(3))
    cond = UNet1d.preset("tiny", 1, num_classes=2)
    with pytest.raises(ValueError, match="labels"):
        cond(torch.randn(1, 1, 64), torch.zeros(1), torch.tensor([2]))
    with pytest.raises(ValueError, match="name"):
        UNet1d.preset("huge", 1)
