"""Recipes: each public dataset's prepare on a tiny fake tree with the real layout and file formats; the
offline corpora (espeak-ng digits, fluidsynth chorales, KLettres layout) built for real at small size."""
from __future__ import annotations

import csv
import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
sys.path.insert(0, str(RECIPES))
common = importlib.import_module("_common")


def tone(seconds: float, sr: int, *, freq: float = 440.0, channels: int = 1, silence: float = 0.0,
         seed: int = 0) -> np.ndarray:
    """A decaying tone plus a little noise, with `silence` seconds of zeros before and after: [n, channels]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t) + 0.01 * rng.standard_normal(t.size)
    z = np.zeros(int(silence * sr))
    x = np.concatenate([z, x, z])
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)


def write(path: Path, x: np.ndarray, sr: int, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, **kw)
    return path


def manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def check_clips(out: Path, *, seconds: float | None = None) -> list[dict]:
    """Every manifest row is a 16 kHz mono PCM-16 WAV at OUT/SPLIT[/LABEL]/NAME.wav of the stated length."""
    rows = manifest(out)
    assert rows and {r["split"] for r in rows} <= set(common.SPLITS)
    wavs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert wavs == sorted(r["path"] for r in rows)
    for r in rows:
        info = sf.info(out / r["path"])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        parts = Path(r["path"]).parts
        assert parts[0] == r["split"] and (parts[1] == r["label"] if r["label"] else len(parts) == 2)
        assert info.frames == pytest.approx(float(r["seconds"]) * 16000, abs=1)
        if seconds is not None:
            assert info.frames == round(seconds * 16000)
    return rows


# --- shared helpers ---------------------------------------------------------------------------------
def test_split_is_a_fixed_function_of_the_key():
    splits = [common.split_of(f"key{i}", val=0.1, test=0.2) for i in range(4000)]
    assert splits == [common.split_of(f"key{i}", val=0.1, test=0.2) for i in range(4000)]
    fractions = {s: splits.count(s) / 4000 for s in common.SPLITS}
    assert fractions["test"] == pytest.approx(0.2, abs=0.03) and fractions["val"] == pytest.approx(0.1, abs=0.03)
    with pytest.raises(ValueError, match="val"):
        common.split_of("k", val=0.6, test=0.5)
    items = [f"clip{i}" for i in range(50)]
    few = common.subset(items, 10)
    assert len(few) == 10 and few == [x for x in items if x in few]  # input order kept
    assert set(common.subset(items[::-1], 10)) == set(few)  # chosen by hash, not by position


def test_trim_and_centre():
    import torch
    x = torch.zeros(1, 16000)
    x[0, 5000:7000] = torch.sin(torch.arange(2000) * 0.3)
    y = common.trim_silence(x, margin=0.0)
    assert 1900 <= y.shape[-1] <= 2200  # 10 ms frame resolution
    z = common.fit_length(y, 16000)
    nz = torch.nonzero(z[0].abs() > 1e-3).flatten()
    assert abs((nz[0] + nz[-1]).item() / 2 - 8000) < 100  # centred
    assert common.trim_silence(torch.zeros(1, 8000)).shape[-1] == 0


def test_writer_refuses_foreign_or_existing_folders(tmp_path):
    import torch
    (tmp_path / "mine.txt").write_text("not a prepared set")
    with pytest.raises(ValueError, match="no manifest.csv"):
        common.ClipWriter(tmp_path)
    out = tmp_path / "out"
    writer = common.ClipWriter(out)  # an interrupted run (never closed) still marks the folder as a recipe's
    writer.write(torch.zeros(1, 160), split="train", label="a", name="x")
    with pytest.raises(ValueError, match="already written"):
        writer.write(torch.zeros(1, 160), split="train", label="a", name="x")
    with pytest.raises(ValueError, match="--overwrite"):
        common.ClipWriter(out)
    writer = common.ClipWriter(out, overwrite=True)
    writer.write(torch.zeros(1, 320), split="val", name="y")
    assert writer.close()["splits"] == {"val": 1} and not (out / "train").exists()
    assert manifest(out) == [{"split": "val", "label": "", "path": "val/y.wav", "seconds": "0.02", "source": ""}]


# --- public datasets on fake trees ------------------------------------------------------------------
def make_speech_commands(root: Path) -> Path:
    sc = root / "speech_commands_v0.02"
    for w, word in enumerate(["zero", "one", "two", "nine", "cat", "_background_noise_"]):
        for s, speaker in enumerate(["0a7c2a8d", "1b4c9b89", "ffd2ba2f"]):
            write(sc / word / f"{speaker}_nohash_{s % 2}.wav", tone(0.8 if s else 1.0, 16000, freq=200 + 50 * w), 16000,
                  subtype="PCM_16")
    (sc / "validation_list.txt").write_text("zero/1b4c9b89_nohash_1.wav\ncat/1b4c9b89_nohash_1.wav\n")
    (sc / "testing_list.txt").write_text("one/ffd2ba2f_nohash_0.wav\nnine/ffd2ba2f_nohash_0.wav\n")
    (sc / "three").mkdir()
    for word in ["four", "five", "six", "seven", "eight"]:
        (sc / word).mkdir()
    return sc


def test_sc09(tmp_path):
    sc09 = importlib.import_module("sc09")
    make_speech_commands(tmp_path / "raw")
    summary = sc09.prepare(tmp_path / "raw", tmp_path / "out")  # the parent of speech_commands_v0.02 works too
    rows = check_clips(tmp_path / "out", seconds=1.0)
    assert summary["clips"] == 12 and set(summary["labels"]) == {"zero", "one", "two", "nine"}
    split = {r["path"]: r["split"] for r in rows}
    assert split["val/zero/1b4c9b89_nohash_1.wav"] == "val"
    assert split["test/one/ffd2ba2f_nohash_0.wav"] == "test" and split["test/nine/ffd2ba2f_nohash_0.wav"] == "test"
    assert summary["splits"] == {"train": 9, "val": 1, "test": 2}


def test_sc09_wrong_layout_says_what_was_expected(tmp_path):
    sc09 = importlib.import_module("sc09")
    sc = make_speech_commands(tmp_path)
    (sc / "testing_list.txt").unlink()
    with pytest.raises(common.LayoutError, match=r"testing_list\.txt"):
        sc09.prepare(sc, tmp_path / "out")
    with pytest.raises(common.LayoutError, match=r"validation_list\.txt"):
        sc09.prepare(tmp_path / "nowhere", tmp_path / "out")
    assert sc09.main(["prepare", "--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2


def test_ljspeech_resamples_22k_to_16k(tmp_path):
    ljspeech = importlib.import_module("ljspeech")
    lj = tmp_path / "LJSpeech-1.1"
    ids = [f"LJ001-{i:04d}" for i in range(1, 7)]
    for i, clip in enumerate(ids):
        write(lj / "wavs" / f"{clip}.wav", tone(1.0 + 0.25 * i, 22050), 22050, subtype="PCM_16")
    (lj / "metadata.csv").write_text("".join(f"{c}|Text {c}; \"quoted\"|Text {c} normalized\n" for c in ids))
    summary = ljspeech.prepare(lj, tmp_path / "out", val=0.3, test=0.3)
    rows = check_clips(tmp_path / "out")
    assert summary["clips"] == 6 and not summary["labels"]
    for r in rows:
        i = ids.index(Path(r["path"]).stem)
        assert float(r["seconds"]) == pytest.approx(1.0 + 0.25 * i, abs=1e-3)
        assert r["source"] == f"Text {ids[i]} normalized"
    (lj / "wavs" / f"{ids[2]}.wav").unlink()
    with pytest.raises(common.LayoutError, match=f"wavs/{ids[2]}.wav"):
        ljspeech.prepare(lj, tmp_path / "out2")


def test_vctk_one_mic_labelled_by_speaker(tmp_path):
    vctk = importlib.import_module("vctk")
    audio = tmp_path / "VCTK-Corpus-0.92" / "wav48_silence_trimmed"
    for speaker in ["p225", "p226", "s5"]:
        for n in range(1, 4):
            for mic in ["mic1", "mic2"]:
                write(audio / speaker / f"{speaker}_{n:03d}_{mic}.flac", tone(0.5, 48000, freq=300 + 10 * n),
                      48000, format="FLAC", subtype="PCM_16")
    summary = vctk.prepare(tmp_path, tmp_path / "out", split_by="speaker")
    rows = check_clips(tmp_path / "out")
    assert summary["clips"] == 9 and summary["labels"] == {"p225": 3, "p226": 3, "s5": 3}
    assert all(r["source"].endswith("_mic1.flac") and float(r["seconds"]) == 0.5 for r in rows)
    assert all(len({r["split"] for r in rows if r["label"] == s}) == 1 for s in ["p225", "p226", "s5"])
    with pytest.raises(common.LayoutError, match="wav48_silence_trimmed"):
        vctk.prepare(tmp_path / "VCTK-Corpus-0.92" / "wav48_silence_trimmed", tmp_path / "out2")


def test_maestro_keeps_its_split_and_skips_silence(tmp_path):
    maestro = importlib.import_module("maestro")
    m = tmp_path / "maestro-v3.0.0"
    rows = [("Bach", "Prelude", "train", "2018", "2018/a.wav", 44100, 4.0),
            ("Chopin", "Etude, Op. 10", "validation", "2017", "2017/b.wav", 48000, 2.0),
            ("Liszt", "Sonata", "test", "2004", "2004/c.wav", 44100, 2.0)]
    (m / maestro.CSV).parent.mkdir(parents=True)
    with open(m / maestro.CSV, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(maestro.COLUMNS)
        for comp, title, split, year, name, sr, sec in rows:
            # stereo, music then 3 s of silence (two 1 s windows are silent, one is half silent)
            x = np.concatenate([tone(sec, sr, channels=2), np.zeros((3 * sr, 2), np.float32)])
            write(m / name, x, sr, subtype="PCM_16")
            w.writerow([comp, title, split, year, name.replace(".wav", ".midi"), name, sec + 3])
    summary = maestro.prepare(tmp_path, tmp_path / "out", clip_seconds=1.0)
    out = check_clips(tmp_path / "out", seconds=1.0)
    assert summary["splits"] == {"train": 4, "val": 2, "test": 2}  # music windows only; silent ones skipped
    assert {r["path"] for r in out} >= {"train/2018_a_0000.wav", "val/2017_b_0001.wav", "test/2004_c_0001.wav"}
    x, sr = sf.read(tmp_path / "out" / "train" / "2018_a_0001.wav")
    ref = tone(4.0, 44100).mean(axis=1)[44100:88200]  # window 1 of the original, at 44.1 kHz
    assert np.sqrt(np.mean(x ** 2)) == pytest.approx(np.sqrt(np.mean(ref ** 2)) * 0.9, rel=0.05)  # mono mix: 0.9
    assert maestro.prepare(tmp_path, tmp_path / "out3", clip_seconds=1.0, minutes=3 / 60)["clips"] == 3
    (m / maestro.CSV).write_text("split,audio_filename\ntrain,2018/a.wav\n")
    with pytest.raises(common.LayoutError, match="canonical_composer"):
        maestro.prepare(m, tmp_path / "out2")


def test_nsynth_families_and_splits(tmp_path):
    nsynth = importlib.import_module("nsynth")
    notes = {"nsynth-train": ["bass_synthetic_033-022-050", "keyboard_acoustic_004-060-025"],
             "nsynth-valid": ["organ_electronic_001-064-127"], "nsynth-test": ["string_acoustic_012-070-100"]}
    for folder, names in notes.items():
        examples = {}
        for note in names:
            family, source, _ = note.split("_")
            pitch = int(note.split("-")[1])
            write(tmp_path / folder / "audio" / f"{note}.wav", tone(4.0, 16000, freq=440 * 2 ** ((pitch - 69) / 12)),
                  16000, subtype="PCM_16")
            examples[note] = {"note_str": note, "pitch": pitch, "velocity": 100, "instrument_family_str": family,
                              "instrument_source_str": source, "sample_rate": 16000}
        (tmp_path / folder / "examples.json").write_text(json.dumps(examples))
    summary = nsynth.prepare(tmp_path, tmp_path / "out")
    rows = check_clips(tmp_path / "out", seconds=4.0)
    assert summary["splits"] == {"train": 2, "val": 1, "test": 1}
    assert {(r["split"], r["label"]) for r in rows} == {("train", "bass"), ("train", "keyboard"), ("val", "organ"),
                                                         ("test", "string")}
    assert nsynth.prepare(tmp_path, tmp_path / "o2", label="none", pitches=(60, 127))["clips"] == 3
    assert nsynth.prepare(tmp_path, tmp_path / "o3", label="family_source")["labels"]["bass_synthetic"] == 1
    with pytest.raises(common.LayoutError, match=r"nsynth-\{train,valid,test\}/examples.json"):
        nsynth.prepare(tmp_path / "out", tmp_path / "o4")


# --- offline corpora ---------------------------------------------------------------------------------
def test_klettres_layout_resampled_and_labelled_by_language(tmp_path):
    klettres = importlib.import_module("klettres")
    root = tmp_path / "raw" / "usr" / "share" / "klettres"
    write(root / "en" / "alpha" / "A.ogg", tone(0.5, 44100, channels=2, silence=0.3), 44100, format="OGG",
          subtype="VORBIS")
    write(root / "en" / "alpha" / "a.ogg", tone(0.4, 44100, silence=0.3, seed=1), 44100, format="OGG",
          subtype="VORBIS")
    write(root / "ru" / "syllab" / "\u0431\u0430.ogg", tone(0.6, 22050, silence=0.2), 22050, format="OGG",
          subtype="VORBIS")
    write(root / "da" / "alpha" / "quiet.ogg", np.zeros((44100, 1), np.float32), 44100, format="OGG",
          subtype="VORBIS")
    summary = klettres.prepare(tmp_path / "raw", tmp_path / "out")
    rows = check_clips(tmp_path / "out")
    assert summary["labels"] == {"en": 2, "ru": 1}  # the silent recording is skipped
    for r in rows:  # silence trimmed: about the tone's length (+ 20 ms margins)
        expected = {"en/alpha/A.ogg": 0.5, "en/alpha/a.ogg": 0.4}.get(r["source"], 0.6)
        assert float(r["seconds"]) == pytest.approx(expected, abs=0.08)
    with pytest.raises(common.LayoutError, match=r"usr/share/klettres/LANG/alpha/\*\.ogg"):
        klettres.prepare(tmp_path / "out", tmp_path / "out2")


def test_ktuberling_skips_narrow_band_and_repeated_recordings(tmp_path):
    ktuberling = importlib.import_module("ktuberling")
    root = tmp_path / "raw" / "usr" / "share" / "ktuberling" / "sounds"
    hat = tone(0.5, 44100, channels=2, silence=0.3)
    write(root / "en" / "hat.ogg", hat, 44100, format="OGG", subtype="VORBIS")
    write(root / "sr" / "kapa.wav", tone(0.4, 48000, silence=0.2, seed=1), 48000)
    (root / "sr@latin").mkdir()
    (root / "sr@latin" / "kapa.wav").write_bytes((root / "sr" / "kapa.wav").read_bytes())  # the same take
    write(root / "nn" / "hatt.wav", tone(0.6, 8000, silence=0.2, seed=2), 8000)  # telephone band: skipped
    write(root / "fr" / "rien.wav", np.zeros((22050, 1), np.float32), 22050)  # silent: skipped
    (root / "en.soundtheme").write_text("<language code='en'/>")
    summary = ktuberling.prepare(tmp_path / "raw", tmp_path / "out")
    rows = check_clips(tmp_path / "out")
    assert summary["labels"] == {"en": 1, "sr": 1}
    for r in rows:
        assert float(r["seconds"]) == pytest.approx({"en/hat.ogg": 0.5}.get(r["source"], 0.4), abs=0.08)
    assert ktuberling.config() == importlib.import_module("klettres").config()  # one speech model
    with pytest.raises(common.LayoutError, match=r"usr/share/ktuberling/sounds/LANG/\*\.ogg"):
        ktuberling.prepare(tmp_path / "out", tmp_path / "out2")


def test_wesnoth_cuts_whole_tracks_into_one_split_and_skips_silence(tmp_path):
    wesnoth = importlib.import_module("wesnoth")
    root = tmp_path / "raw" / "usr" / "share" / "games" / "wesnoth" / "1.16" / "data" / "core" / "music"
    gap = np.zeros((44100, 2), np.float32)
    for i, name in enumerate(["battle", "knolls", "main_menu", "sad", "wanderer"]):  # knolls, wanderer: test
        x = np.concatenate([tone(1.0, 44100, channels=2, seed=i), gap, tone(1.5, 44100, channels=2, seed=i)])
        write(root / f"{name}.ogg", x, 44100, format="OGG", subtype="VORBIS")
    summary = wesnoth.prepare(tmp_path / "raw", tmp_path / "out", clip_seconds=1.0, val=0.0, test=0.5)
    rows = check_clips(tmp_path / "out", seconds=1.0)
    # 3.5 s per track: clips 0 and 2 (1 is the silence, the last half second is no whole clip)
    assert summary["clips"] == 10 and sorted({Path(r["path"]).stem[:4] for r in rows}) == ["0000", "0002"]
    splits = {}
    for r in rows:
        splits.setdefault(r["source"].split("@")[0], set()).add(r["split"])
    assert len(splits) == 5 and all(len(s) == 1 for s in splits.values())  # a track never spans two splits
    assert {s for v in splits.values() for s in v} == {"train", "test"}
    assert wesnoth.config() == importlib.import_module("chorales").config()  # one music model
    with pytest.raises(common.LayoutError, match=r"usr/share/games/wesnoth/VERSION/data/core/music/\*\.ogg"):
        wesnoth.prepare(tmp_path / "out", tmp_path / "out2")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_espeak_digits_real_and_stable(tmp_path):
    espeak_digits = importlib.import_module("espeak_digits")
    summary = espeak_digits.prepare(None, tmp_path / "a", count=20, val=0.2, test=0.2)
    rows = check_clips(tmp_path / "a", seconds=1.0)
    assert summary["clips"] == 20 and summary["labels"] == {d: 2 for d in espeak_digits.DIGITS}
    for r in rows:
        x, _ = sf.read(tmp_path / "a" / r["path"])
        assert 20 * np.log10(np.sqrt(np.mean(x ** 2))) > -45 and np.abs(x).max() < 0.99  # audible, not clipped
        assert np.abs(x[:80]).max() < 1e-3 and np.abs(x[-80:]).max() < 1e-3  # centred word, silent edges
        assert r["label"] in r["source"] and r["source"].startswith("espeak-ng -v en")
    # fewer clips: the same first clips, byte for byte, in the same splits
    espeak_digits.prepare(None, tmp_path / "b", count=10, val=0.2, test=0.2)
    first = {r["path"]: r for r in rows if int(Path(r["path"]).stem) < 10}
    again = {r["path"]: r for r in manifest(tmp_path / "b")}
    assert again == first
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in first)


def test_missing_tools_say_what_to_install(tmp_path, monkeypatch):
    espeak_digits = importlib.import_module("espeak_digits")
    chorales = importlib.import_module("chorales")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(common.MissingToolError, match="apt-get install espeak-ng"):
        espeak_digits.prepare(None, tmp_path / "a", count=2)
    with pytest.raises(common.MissingToolError, match="apt-get install fluidsynth"):
        chorales.prepare(None, tmp_path / "b")
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(common.MissingToolError, match="apt-get install fluid-soundfont-gm"):
        chorales.prepare(None, tmp_path / "c", soundfont=tmp_path / "none.sf2")


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists(),
                    reason="needs fluidsynth and fluid-soundfont-gm")
def test_chorales_render_one_piece(tmp_path):
    pytest.importorskip("music21")
    chorales = importlib.import_module("chorales")
    summary = chorales.prepare(None, tmp_path / "out", minutes=6 / 60, clip_seconds=2.0, max_pieces=1)
    rows = check_clips(tmp_path / "out", seconds=2.0)
    assert summary["clips"] == 3 and len({r["label"] for r in rows}) == 1 and len({r["split"] for r in rows}) == 1
    assert rows[0]["label"] in chorales.INSTRUMENTS
    x = np.concatenate([sf.read(tmp_path / "out" / r["path"])[0] for r in rows])
    assert 20 * np.log10(np.sqrt(np.mean(x ** 2))) > -30 and np.abs(x).max() < 0.95  # -1 dBFS peak, audible
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 16000)
    assert spectrum[(f > 80) & (f < 2000)].sum() > 0.5 * spectrum.sum()  # pitched music, not noise


# --- config() and the train command ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["espeak_digits", "chorales", "klettres", "ktuberling", "wesnoth", "sc09", "ljspeech",
                                  "vctk", "maestro", "nsynth"])
def test_config_round_trips_and_fits_the_shipped_size(name):
    from audiodiff.config import Config, build_model
    config = importlib.import_module(name).config()
    assert isinstance(config, Config) and Config.from_dict(config.to_dict()) == config
    assert config.frontend.sample_rate == 16000
    if config.train.labels:
        config.label_names = [f"c{i}" for i in range(10)]
    params = sum(p.numel() for p in build_model(config).parameters())
    assert params * 4 <= 15e6  # float32 weights within the 15 MB a shipped default may take


@pytest.mark.parametrize("name,model", [("espeak_digits", "digits"), ("klettres", "speech"), ("chorales", "music")])
def test_recipe_config_builds_what_is_shipped(name, model):
    """Training from a recipe gives the shipped model's front end (pre-emphasis included), SDE, network and
    sampling defaults: what the recipe trains is what `--model` loads."""
    from audiodiff.config import Config
    from audiodiff.pipeline import PRETRAINED_DIR
    recipe = importlib.import_module(name).config().to_dict()
    saved = json.loads((PRETRAINED_DIR / model / "config.json").read_text())["config"]
    shipped = Config.from_dict(saved).to_dict()  # fields added since it was saved take their defaults
    for section in ("frontend", "sde", "net", "sample"):
        assert recipe[section] == shipped[section], section


def test_train_command_runs_the_library_on_prepared_clips(tmp_path):
    sc09 = importlib.import_module("sc09")
    make_speech_commands(tmp_path / "raw")
    assert sc09.main(["prepare", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "data")]) == 0
    tiny = ["net.options.channels=[16,16,32]", "net.options.attention=[false,false,false]", "train.batch_size=2",
            "net.options.blocks=[1,1,1]"]
    with pytest.raises(SystemExit) as done:  # click's standalone exit
        sc09.main(["train", "--data", str(tmp_path / "data" / "train"), "--out", str(tmp_path / "run"),
                   "--steps", "1", *[a for o in tiny for a in ("--set", o)]])
    assert done.value.code == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "zero" in json.dumps(saved) and (tmp_path / "run" / "model.safetensors").is_file()
