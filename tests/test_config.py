"""Config: JSON round trip, type-checked --set overrides, range checks, builders and recipe loading."""
from __future__ import annotations

import json

import pytest
import torch

import audiodiff as ad
from audiodiff.config import Config, apply_overrides, build_frontend, build_model, build_sde, load_recipe


def test_json_round_trip_keeps_every_field_and_type():
    c = apply_overrides(Config(), ["train.betas=[0.8, 0.95]", "net.options.channels=[8, 16]", "sde.name=ve",
                                   "frontend.name=logmel", "frontend.f_max=7000", "label_names=[\"a\", \"b\"]"])
    back = Config.from_json(c.to_json())
    assert back == c
    assert isinstance(back.train.betas, tuple) and back.train.betas == (0.8, 0.95)
    assert back.frontend.f_max == 7000.0 and isinstance(back.frontend.f_max, float)


def test_overrides_are_parsed_by_field_type():
    c = apply_overrides(Config(), ["train.lr=3e-4", "train.steps=2e3", "train.grad_clip=null", "train.labels=true",
                                   "sample.sampler=pc", "train.normalize=None", "net.preset=small"])
    assert c.train.lr == 3e-4 and c.train.steps == 2000 and isinstance(c.train.steps, int)
    assert c.train.grad_clip is None and c.train.labels is True and c.train.normalize is None
    assert c.sample.sampler == "pc" and c.net.preset == "small"
    assert Config().train.lr == 2e-4  # the input is not modified


@pytest.mark.parametrize("override, names", [
    ("train.lrr=1", "train.lrr"),
    ("trian.lr=1", "trian"),
    ("train.lr=fast", "train.lr"),
    ("train.steps=1.5", "train.steps"),
    ("train.labels=3", "train.labels"),
    ("sde.name=vv", "sde.name"),
    ("train=1", "train"),
    ("train.lr.x=1", "train.lr"),
    ("train.lr", "train.lr"),
    ("train.lr=-1", "train.lr"),
    ("train.ema_decay=1", "train.ema_decay"),
    ("train.betas=[0.9]", "train.betas"),
])
def test_bad_overrides_name_the_key(override, names):
    with pytest.raises(ValueError, match=names.replace(".", r"\.")) as e:
        apply_overrides(Config(), [override])
    assert "\n" not in str(e.value)


def test_from_dict_rejects_unknown_nested_keys():
    d = Config().to_dict()
    d["train"]["learning_rate"] = 1e-3
    with pytest.raises(ValueError, match=r"train\.learning_rate"):
        Config.from_dict(d)
    with pytest.raises(ValueError, match="not valid JSON"):
        Config.from_json("{nope")


def test_builders_follow_the_config():
    c = apply_overrides(Config(), ["frontend.name=logmel", "frontend.n_mels=32", "frontend.n_fft=256",
                                   "frontend.hop_length=64", "sde.name=ve", "sde.sigma_max=10",
                                   "net.options.channels=[8,16,32,32]", "label_names=[\"x\",\"y\",\"z\"]"])
    frontend = build_frontend(c.frontend)
    assert isinstance(frontend, ad.LogMel) and frontend.channels == 32
    model = build_model(c)
    assert isinstance(model.sde, ad.VESDE) and model.sde.sigma_max == 10
    assert model.net.config()["in_channels"] == 32 and model.net.config()["num_classes"] == 3
    assert model.net.config()["channels"] == [8, 16, 32, 32]
    x = torch.randn(2, 32, 20)
    assert model.denoise(x, torch.full((2,), 0.5), torch.tensor([0, 2])).shape == x.shape
    assert build_sde(Config().sde).config() == ad.VPSDE().config()


def test_unknown_net_option_is_a_value_error():
    c = apply_overrides(Config(), ["net.options.widht=3"])
    with pytest.raises(ValueError, match="net.options"):
        build_model(c)


def test_load_recipe_by_name_path_and_json(tmp_path):
    tiny = load_recipe("tiny")
    assert tiny.net.preset == "tiny" and tiny.train.seconds == 0.5 and tiny.frontend.sample_rate == 16000
    (tmp_path / "mine.py").write_text("from audiodiff.config import Config\n"
                                      "def config():\n    c = Config()\n    c.train.lr = 5e-5\n    return c\n")
    assert load_recipe(tmp_path / "mine.py").train.lr == 5e-5
    (tmp_path / "c.json").write_text(tiny.to_json())
    assert load_recipe(tmp_path / "c.json") == tiny
    (tmp_path / "model.json").write_text(json.dumps({"format": "audiodiff-model", "config": tiny.to_dict()}))
    assert load_recipe(tmp_path / "model.json") == tiny


def test_load_recipe_errors(tmp_path):
    with pytest.raises(ValueError, match="recipe 'nosuch' not found.*tiny"):
        load_recipe("nosuch")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match="no config"):
        load_recipe(tmp_path / "empty.py")
    (tmp_path / "bad.json").write_text('{"train": {"lr": "fast"}}')
    with pytest.raises(ValueError, match=r"train\.lr"):
        load_recipe(tmp_path / "bad.json")
