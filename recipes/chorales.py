"""Bach chorales from the music21 corpus rendered by fluidsynth: an offline music set labelled by instrument.

Each piece (optionally other music21 composers too, e.g. --composers bach,palestrina) is rendered once per
--renders with every part on one General MIDI instrument drawn from INSTRUMENTS, a tempo drawn from TEMPO
and a transposition drawn from TRANSPOSE; the render (44.1 kHz, FluidR3_GM soundfont) is mixed to mono,
resampled to 16 kHz, peak-normalised to -1 dBFS and cut into --clip-seconds clips, skipping clips that are
mostly silence. Render k of a piece is a pure function of (seed, piece, k). Pieces are visited in a fixed
hash order until --minutes of clips exist; the split is a hash of the piece, so test pieces are unseen.

Needs: `pip install music21` (extra `audiodiff[recipes]`) and
`apt-get install fluidsynth fluid-soundfont-gm`.

    python recipes/chorales.py prepare --out /work/data/chorales --minutes 30
    python recipes/chorales.py train --data /work/data/chorales/train --out runs/music
    python recipes/chorales.py evaluate runs/music --data /work/data/chorales/test --task extend --cutoff 4000

Layout: OUT/{train,val,test}/INSTRUMENT/PIECE_rK_NNN.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (PREEMPHASIS, SAMPLE_RATE, SCALE, WAVEFORM_NET, ClipWriter, active_chunks, cli,  # noqa: E402
                     load_mono, require_file, require_tool, safe_name, split_of, trim_silence)

from audiodiff.audio import normalize_peak  # noqa: E402
from audiodiff.config import Config, FrontendConfig, NetConfig, SampleConfig, SDEConfig, TrainConfig  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# label -> General MIDI program (0-based): sustained and plucked timbres that carry four-part harmony
INSTRUMENTS = {"piano": 0, "harpsichord": 6, "vibraphone": 11, "church_organ": 19, "reed_organ": 20,
               "accordion": 21, "nylon_guitar": 24, "strings": 48, "choir": 52, "trumpet": 56,
               "brass": 61, "oboe": 68, "clarinet": 71, "flute": 73, "recorder": 74}
TEMPO = (56, 112)         # quarter notes per minute
TRANSPOSE = (-4, 4)       # semitones
RENDER_RATE = 44100       # fluidsynth's rate before resampling to 16 kHz
DEFAULT_OUT = "/work/data/chorales"


def pieces(composers: tuple[str, ...], *, seed: int) -> list[Path]:
    """Score files of the music21 corpus by `composers`, in a fixed pseudo-random (hash) order."""
    try:
        from music21 import corpus
    except ImportError:
        raise ValueError("chorales needs music21: `pip install music21` "
                         "(or `pip install 'audiodiff[recipes]'`)") from None
    from audiodiff.data import hash_fraction
    paths = [Path(p) for c in composers for p in corpus.getComposer(c, fileExtensions=("mxl", "xml", "krn"))]
    if not paths:
        raise ValueError(f"composers={composers}: no scores of them in the music21 corpus")
    return sorted(paths, key=lambda p: (hash_fraction(f"chorales/{seed}/{p.stem}"), p.stem))


def render_params(piece: str, k: int, *, seed: int) -> dict:
    """Instrument, tempo and transposition of render k of a piece: a pure function of (seed, piece, k)."""
    rng = random.Random(f"chorales/{seed}/{piece}/{k}")
    return {"instrument": rng.choice(sorted(INSTRUMENTS)), "tempo": rng.randint(*TEMPO),
            "transpose": rng.randint(*TRANSPOSE)}


def to_midi(score, path: Path, *, instrument: str, tempo: int, transpose: int) -> None:
    """Write a copy of a music21 score as MIDI with every part on one GM program, one tempo, transposed."""
    from music21 import instrument as m21instrument
    from music21 import tempo as m21tempo
    s = score.transpose(transpose) if transpose else copy.deepcopy(score)
    for part in s.parts:
        for el in list(part.recurse().getElementsByClass((m21instrument.Instrument, m21tempo.MetronomeMark))):
            el.activeSite.remove(el)
        voice = m21instrument.Instrument()
        voice.midiProgram = INSTRUMENTS[instrument]
        part.insert(0, voice)
        part.insert(0, m21tempo.MetronomeMark(number=tempo))
    s.write("midi", fp=str(path))


def render(midi: Path, wav: Path, *, fluidsynth: str, soundfont: Path) -> None:
    """MIDI -> 32-bit float WAV at RENDER_RATE with fluidsynth (fast offline rendering, no audio device)."""
    subprocess.run([fluidsynth, "-ni", "-q", "-T", "wav", "-O", "float", "-r", str(RENDER_RATE),
                    "-F", str(wav), str(soundfont), str(midi)], check=True, capture_output=True)


def prepare(raw_dir: None, out_dir: str | Path, *, minutes: float = 30.0, clip_seconds: float = 4.0,
            renders: int = 1, composers: tuple[str, ...] = ("bach",), max_pieces: int | None = None,
            seed: int = 0, val: float = 0.1, test: float = 0.1, soundfont: str | Path = SOUNDFONT,
            overwrite: bool = False) -> dict:
    """Render pieces into out_dir/{split}/{instrument}/ until `minutes` of clips exist; returns the summary."""
    if raw_dir is not None:
        raise ValueError("raw_dir: chorales renders the music21 corpus; pass None")
    if not minutes > 0 or not clip_seconds > 0 or renders < 1:
        raise ValueError(f"minutes={minutes}, clip_seconds={clip_seconds} must be > 0 and renders={renders} >= 1")
    fluidsynth = require_tool("fluidsynth", package="fluidsynth")
    soundfont = require_file(soundfont, what="the General MIDI soundfont FluidR3_GM.sf2", package="fluid-soundfont-gm")
    paths = pieces(tuple(composers), seed=seed)[:max_pieces]  # first: says how to install music21
    from music21 import converter
    from music21.exceptions21 import Music21Exception
    n = int(clip_seconds * SAMPLE_RATE)
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav_path = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        for p in paths:
            piece = safe_name(p.stem)
            for k in range(renders):
                params = render_params(piece, k, seed=seed)
                try:
                    to_midi(converter.parse(p), midi, **params)  # parse is cached by music21
                except Music21Exception as e:  # a few corpus files have malformed repeats or spanners
                    print(f"warning: skipping {p.name}: {e}", file=sys.stderr)
                    break
                render(midi, wav_path, fluidsynth=fluidsynth, soundfont=soundfont)
                wav = normalize_peak(trim_silence(load_mono(wav_path)))
                source = "{piece}: {instrument}, {tempo} bpm, transpose {transpose}".format(piece=p.name, **params)
                for j, clip in active_chunks(wav, n):
                    writer.write(clip, split=split_of(piece, val=val, test=test), label=params["instrument"],
                                 name=f"{piece}_r{k}_{j:03d}", source=source)
                    total += clip_seconds
                    if total >= minutes * 60:
                        return writer.close()
    return writer.close()


# Restoration defaults (config.sample.inpaint / .extend) chosen by bench/nfe.py on the trained model: within
# 5% of the best LSD any sampler reached, at <= 40 NFE (bench/results/nfe_*.md). Warm starts from the
# classical fill (t_init 0.05 / 0.01: VP sigma 0.17 / 0.07) beat cold starts at every NFE below 100.
# Inpainting fills with the mean of 4 posterior samples from barely-noised order-1024 LPC (t_init 0.003): better
# than one sample from t_init 0.01 or 0.05 (validation chorales, 100 and 300 ms), yet still behind LPC at its
# best order on the held-out chorales at 50 and 100 ms (plain LSD) and at every length floored (README, issue 6).
RESTORE_INPAINT = dict(sampler="heun", steps=10, resample=0, init="lpc_long", t_init=0.003, average=4)
RESTORE_EXTEND = dict(sampler="heun", steps=10, resample=0, init="observed", t_init=0.01)


def config() -> Config:
    """Unconditional waveform model of 16 kHz music, 0.5 s crops, VP SDE (shipped default `music`); training
    times and sampling defaults as recipes/klettres.py's speech model (see there why)."""
    return Config(
        frontend=FrontendConfig(name="waveform", sample_rate=SAMPLE_RATE, preemphasis=PREEMPHASIS, scale=SCALE),
        sde=SDEConfig(name="vp"),
        net=NetConfig(preset=None, options=dict(WAVEFORM_NET)),
        train=TrainConfig(lr=3e-4, batch_size=16, steps=100_000, warmup=1000, seconds=0.5, labels=False,
                          normalize="peak", ckpt_every=500, t_sampling="lognormal", p_mean=-2.0, p_std=1.6),
        sample=SampleConfig(sampler="heun", steps=25, seconds=1.0, inpaint=RESTORE_INPAINT, extend=RESTORE_EXTEND),
    )


def _arguments(p):
    p.add_argument("--minutes", type=float, default=30.0, help="stop once this much audio is written")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="clip length")
    p.add_argument("--renders", type=int, default=1, help="renders per piece (each its own instrument/tempo)")
    p.add_argument("--composers", default="bach", help="comma-separated music21 corpus composers")
    p.add_argument("--max-pieces", type=int, default=None, help="use at most this many pieces")
    p.add_argument("--seed", type=int, default=0, help="piece order and render parameters depend only on it")
    p.add_argument("--val", type=float, default=0.1, help="fraction of pieces held out for validation")
    p.add_argument("--test", type=float, default=0.1, help="fraction of pieces held out for test")
    p.add_argument("--soundfont", default=SOUNDFONT, help="General MIDI .sf2 soundfont")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data=DEFAULT_OUT, argv=argv,
               prepare=lambda a: prepare(None, a.out, minutes=a.minutes, clip_seconds=a.clip_seconds,
                                         renders=a.renders, composers=tuple(a.composers.split(",")),
                                         max_pieces=a.max_pieces, seed=a.seed, val=a.val, test=a.test,
                                         soundfont=a.soundfont, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
