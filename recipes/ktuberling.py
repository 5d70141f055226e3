"""KTuberling recordings (Debian ktuberling-data): spoken words in ~25 languages, labelled by language.

Real recorded speech from KDE's KTuberling (GPL-2+): about 1,900 words (body parts, clothes, objects) said by
many speakers, 32 minutes in all, as OGG Vorbis, Opus and WAV at 8-48 kHz. Recordings below 16 kHz carry
no band above 4 kHz and are skipped (a 16 kHz model would learn band-limited speech from them); the rest are
mixed to mono, resampled to 16 kHz and silence-trimmed. Some recordings are shared between language folders
(Serbian scripts): the split is a hash of the file's content, and a repeated content is written once.

The raw folder is the package unpacked by `dpkg -x` (the folder holding usr/share/ktuberling/, or that
sounds/ folder itself). `--fetch` makes it first, from Debian's archive through apt (needs apt-get and dpkg):

    python recipes/ktuberling.py prepare --fetch --raw /work/data/raw/ktuberling --out /work/data/ktuberling

It trains the same `speech` model as recipes/klettres.py (config() is that recipe's), on the union of the
speech sets (recipes/README.md).

Layout: OUT/{train,val,test}/LANGUAGE/NAME.wav + OUT/manifest.csv (see recipes/README.md).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (SAMPLE_RATE, ClipWriter, LayoutError, cli, fetch_deb, load_take,  # noqa: E402
                     require_dir, safe_name, split_of, take_stem)
from klettres import config  # noqa: E402,F401  (the speech model both recipes train)


SUFFIXES = (".ogg", ".opus", ".wav")
DEFAULT_OUT = "/work/data/ktuberling"
DEFAULT_RAW = "/work/data/raw/ktuberling"


def sounds_root(raw_dir: str | Path) -> Path:
    """The sounds/ folder (LANG/*.ogg|opus|wav) inside an unpacked ktuberling-data package."""
    raw_dir = require_dir(raw_dir, what="the unpacked ktuberling-data package (dpkg -x ktuberling-data_*.deb DIR)")
    for root in (raw_dir / "usr" / "share" / "ktuberling" / "sounds", raw_dir):
        if any(p.suffix in SUFFIXES for p in root.glob("*/*")):
            return root
    raise LayoutError(f"expected KTuberling recordings at {raw_dir}/usr/share/ktuberling/sounds/LANG/*.ogg "
                      f"(or {raw_dir}/LANG/*.ogg): none found; unpack the package with "
                      "`dpkg -x ktuberling-data_*.deb DIR` or pass --fetch")


def prepare(raw_dir: str | Path | None, out_dir: str | Path, *, fetch_raw: bool = False,
            val: float = 0.1, test: float = 0.1, overwrite: bool = False) -> dict:
    """Resample every wide-band recording into out_dir/{split}/{language}/; returns manifest.csv's summary."""
    if raw_dir is None:
        raw_dir = DEFAULT_RAW
    if fetch_raw:
        fetch_deb("ktuberling-data", raw_dir)
    root = sounds_root(raw_dir)
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    seen: set[str] = set()
    for path in sorted(p for p in root.glob("*/*") if p.suffix in SUFFIXES):
        rel = path.relative_to(root).as_posix()
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        try:
            rate = sf.info(str(path)).samplerate
        except (RuntimeError, sf.LibsndfileError) as err:
            print(f"warning: {path} is unreadable ({err}); skipped", file=sys.stderr)
            continue
        if rate < SAMPLE_RATE:
            continue  # narrow-band (8 kHz) recordings: nothing above 4 kHz to learn from
        wav = load_take(path)
        if wav is None:
            continue
        writer.write(wav, split=split_of(digest, val=val, test=test), label=safe_name(path.parent.name),
                     name=f"{take_stem(path)}_{digest[:6]}", source=rel)
    return writer.close()


def _arguments(p):
    p.add_argument("--raw", default=DEFAULT_RAW, help="unpacked ktuberling-data (made by --fetch)")
    p.add_argument("--fetch", action="store_true", help="apt-get download + dpkg -x the package into --raw first")
    p.add_argument("--val", type=float, default=0.1, help="fraction held out for validation")
    p.add_argument("--test", type=float, default=0.1, help="fraction held out for test")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data=DEFAULT_OUT, argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, fetch_raw=a.fetch, val=a.val, test=a.test,
                                         overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
