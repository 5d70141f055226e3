"""KLettres recordings (Debian klettres-data): spoken letters and syllables in ~20 languages, labelled by language.

Real recorded speech (mostly 44.1 kHz OGG, some 22.05/48/128 kHz, mono or stereo) from KDE's KLettres, GPL-2+.
Every recording is mixed to mono, resampled to 16 kHz and silence-trimmed (it keeps its own length; training
crops or pads it). The split is a hash of the recording's path inside the package.

The raw folder is the package unpacked by `dpkg -x` (the folder holding usr/share/klettres/, or that
klettres/ folder itself). `--fetch` makes it first, from Debian's archive through apt (needs apt-get and dpkg):

    python recipes/klettres.py prepare --fetch --raw /work/data/raw/klettres --out /work/data/klettres
    python recipes/klettres.py train --data /work/data/klettres/train --out runs/speech
    python recipes/klettres.py evaluate runs/speech --data /work/data/klettres/test --task inpaint

(by hand: `apt-get download klettres-data && dpkg -x klettres-data_*.deb RAW`).

Layout: OUT/{train,val,test}/LANGUAGE/{alpha,syllab}_NAME.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (PREEMPHASIS, SAMPLE_RATE, SCALE, WAVEFORM_NET, ClipWriter, LayoutError, cli,  # noqa: E402
                     fetch_deb, load_take, require_dir, split_of, take_stem)

from audiodiff.config import Config, FrontendConfig, NetConfig, SampleConfig, SDEConfig, TrainConfig  # noqa: E402

KINDS = ("alpha", "syllab")  # letters, syllables
DEFAULT_OUT = "/work/data/klettres"
DEFAULT_RAW = "/work/data/raw/klettres"


def sounds_root(raw_dir: str | Path) -> Path:
    """The klettres/ folder (LANG/{alpha,syllab}/*.ogg) inside an unpacked klettres-data package."""
    raw_dir = require_dir(raw_dir, what="the unpacked klettres-data package (dpkg -x klettres-data_*.deb DIR)")
    for root in (raw_dir / "usr" / "share" / "klettres", raw_dir):
        if any(next(root.glob(f"*/{kind}/*.ogg"), None) for kind in KINDS):
            return root
    raise LayoutError(f"expected KLettres recordings at {raw_dir}/usr/share/klettres/LANG/alpha/*.ogg "
                      f"(or {raw_dir}/LANG/alpha/*.ogg): none found; unpack the package with "
                      "`dpkg -x klettres-data_*.deb DIR` or pass --fetch")


def recordings(root: Path, languages: tuple[str, ...] | None = None) -> list[tuple[str, str, Path]]:
    """(language, kind, path) of every recording under root, sorted; only `languages` when given."""
    found = sorted((p.parent.parent.name, p.parent.name, p)
                   for kind in KINDS for p in root.glob(f"*/{kind}/*.ogg"))
    if languages is not None:
        unknown = set(languages) - {lang for lang, _, _ in found}
        if unknown:
            raise ValueError(f"languages {sorted(unknown)} not in {root} (has {sorted({f[0] for f in found})})")
        found = [f for f in found if f[0] in languages]
    return found


def prepare(raw_dir: str | Path | None, out_dir: str | Path, *, fetch_raw: bool = False,
            languages: tuple[str, ...] | None = None, val: float = 0.1, test: float = 0.1,
            overwrite: bool = False) -> dict:
    """Resample every recording into out_dir/{split}/{language}/; returns the summary of manifest.csv."""
    if raw_dir is None:
        raw_dir = DEFAULT_RAW
    if fetch_raw:
        fetch_deb("klettres-data", raw_dir)
    root = sounds_root(raw_dir)
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    for lang, kind, path in recordings(root, languages):
        rel = path.relative_to(root).as_posix()
        wav = load_take(path)
        if wav is None:
            continue
        # stems differ only in case or script (A.ogg / a.ogg, Cyrillic): a short path hash keeps names unique
        name = f"{kind}_{take_stem(path)}_{hashlib.sha1(rel.encode()).hexdigest()[:6]}"
        writer.write(wav, split=split_of(rel, val=val, test=test), label=lang, name=name, source=rel)
    return writer.close()


# Restoration defaults (config.sample.inpaint / .extend) chosen by bench/nfe.py on the trained model: within
# 5% of the best LSD any sampler reached, at <= 40 NFE (bench/results/nfe_*.md). Warm starts from the
# classical fill (t_init 0.05 / 0.01: VP sigma 0.17 / 0.07) beat cold starts at every NFE below 100.
# Inpainting starts from order-1024 LPC barely noised (t_init 0.002, sigma 0.015): on 16 klettres validation
# clips it beats t_init 0.05 at 50 / 100 ms (0.312 / 0.433 against 0.386 / 0.481) and ties at 200 / 300 ms;
# 4 steps do as well as 9 there (README, issue 6).
RESTORE_INPAINT = dict(sampler="heun", steps=4, resample=1, init="lpc_long", t_init=0.002)
RESTORE_EXTEND = dict(sampler="euler_maruyama", steps=39, resample=0, init="observed", t_init=0.05)


def config() -> Config:
    """Unconditional waveform speech model at 16 kHz, 0.5 s crops, VP SDE (the `speech` default's data half).

    Log-normal training times (median sigma 0.14): peak-normalised speech has rms ~0.1 and pauses ~0.003, far
    below the noise levels where uniform VP times spend most examples. Sampling runs on 1 s windows (the net is
    convolutional); restoration starts warm from the classical fill (bench/nfe.py measured the choice)."""
    return Config(
        frontend=FrontendConfig(name="waveform", sample_rate=SAMPLE_RATE, preemphasis=PREEMPHASIS, scale=SCALE),
        sde=SDEConfig(name="vp"),
        net=NetConfig(preset=None, options=dict(WAVEFORM_NET)),
        train=TrainConfig(lr=3e-4, batch_size=16, steps=100_000, warmup=1000, seconds=0.5, labels=False,
                          pad_short=True, normalize="peak", ckpt_every=500, t_sampling="lognormal", p_mean=-2.0,
                          p_std=1.6),  # letters are often under 1 s
        sample=SampleConfig(sampler="heun", steps=25, seconds=1.0, inpaint=RESTORE_INPAINT, extend=RESTORE_EXTEND),
    )


def _arguments(p):
    p.add_argument("--raw", default=DEFAULT_RAW, help="unpacked klettres-data (made by --fetch)")
    p.add_argument("--fetch", action="store_true", help="apt-get download + dpkg -x the package into --raw first")
    p.add_argument("--languages", default=None, help="comma-separated language folders (default: all)")
    p.add_argument("--val", type=float, default=0.1, help="fraction held out for validation")
    p.add_argument("--test", type=float, default=0.1, help="fraction held out for test")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data=DEFAULT_OUT, argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, fetch_raw=a.fetch, val=a.val, test=a.test,
                                         languages=tuple(a.languages.split(",")) if a.languages else None,
                                         overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
