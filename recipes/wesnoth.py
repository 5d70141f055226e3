"""The Battle for Wesnoth soundtrack (Debian wesnoth-1.16-music): produced orchestral music, never trained on.

41 tracks (GPL-2+), 128 minutes of orchestral game music as OGG Vorbis, 44.1 kHz stereo: produced music, not
rendered by us, unlike the General MIDI chorales the `music` model learns from, so its test split checks that
model on music it has never heard the like of. Each track is mixed to mono, resampled to 16 kHz and cut into
consecutive --clip-seconds clips; clips that are mostly silence are skipped. Whole tracks go to one split (a hash
of the track's name), so a model trained here is tested on tracks it never heard.

Clips are named NNNN_TRACK (chunk index first): sorted, the test split interleaves its tracks, so `evaluate
--limit 16` scores the openings of every test track rather than one track's first minute.

The raw folder is the package unpacked by `dpkg -x` (the folder holding usr/share/games/wesnoth/, or the
music/ folder itself). `--fetch` makes it first, from Debian's archive through apt (needs apt-get and dpkg):

    python recipes/wesnoth.py prepare --fetch --raw /work/data/raw/wesnoth --out /work/data/wesnoth
    audiodiff evaluate music --task inpaint --data /work/data/wesnoth/test --limit 16 --seconds 2

config() is the chorales recipe's: the one `music` model (recipes/README.md).

Layout: OUT/{train,val,test}/NNNN_TRACK.wav + OUT/manifest.csv (unlabelled; see recipes/README.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (ClipWriter, LayoutError, active_chunks, cli, fetch_deb, load_mono,  # noqa: E402
                     require_dir, safe_name, split_of)
from chorales import config  # noqa: E402,F401  (the music model both recipes train)

from audiodiff.audio import AudioError  # noqa: E402

PACKAGE = "wesnoth-1.16-music"
DEFAULT_OUT = "/work/data/wesnoth"
DEFAULT_RAW = "/work/data/raw/wesnoth"


def music_root(raw_dir: str | Path) -> Path:
    """The music/ folder (*.ogg) inside an unpacked wesnoth-*-music package, or raw_dir holding the tracks."""
    raw_dir = require_dir(raw_dir, what=f"the unpacked {PACKAGE} package (dpkg -x {PACKAGE}_*.deb DIR)")
    for root in [*sorted(raw_dir.glob("usr/share/games/wesnoth/*/data/core/music")), raw_dir]:
        if any(root.glob("*.ogg")):
            return root
    raise LayoutError(f"expected Wesnoth tracks at {raw_dir}/usr/share/games/wesnoth/VERSION/data/core/music/"
                      f"*.ogg (or {raw_dir}/*.ogg): none found; unpack the package with "
                      f"`dpkg -x {PACKAGE}_*.deb DIR` or pass --fetch")


def prepare(raw_dir: str | Path | None, out_dir: str | Path, *, fetch_raw: bool = False, clip_seconds: float = 4.0,
            val: float = 0.1, test: float = 0.2, overwrite: bool = False) -> dict:
    """Cut every track into out_dir/{split}/NNNN_TRACK.wav; returns manifest.csv's summary."""
    if not clip_seconds > 0:
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
    if raw_dir is None:
        raw_dir = DEFAULT_RAW
    if fetch_raw:
        fetch_deb(PACKAGE, raw_dir)
    root = music_root(raw_dir)
    writer = ClipWriter(Path(out_dir), overwrite=overwrite)
    n = round(clip_seconds * writer.sample_rate)
    for path in sorted(root.glob("*.ogg")):
        try:
            wav = load_mono(path)
        except AudioError as err:
            print(f"warning: {path} is unreadable ({err}); skipped", file=sys.stderr)
            continue
        track = safe_name(path.stem)
        split = split_of(track, val=val, test=test)
        for k, chunk in active_chunks(wav, n):
            writer.write(chunk, split=split, name=f"{k:04d}_{track}", source=f"{path.name}@{k * clip_seconds:g}s")
    return writer.close()


def _arguments(p):
    p.add_argument("--raw", default=DEFAULT_RAW, help=f"unpacked {PACKAGE} (made by --fetch)")
    p.add_argument("--fetch", action="store_true", help="apt-get download + dpkg -x the package into --raw first")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="clip length")
    p.add_argument("--val", type=float, default=0.1, help="fraction of tracks held out for validation")
    p.add_argument("--test", type=float, default=0.2, help="fraction of tracks held out for test")


def main(argv=None) -> int:
    return cli(__doc__, recipe=__file__, arguments=_arguments, default_data=DEFAULT_OUT, argv=argv,
               prepare=lambda a: prepare(a.raw, a.out, fetch_raw=a.fetch, clip_seconds=a.clip_seconds, val=a.val,
                                         test=a.test, overwrite=a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
