#!/usr/bin/env python
"""How strong the LPC baseline gets with its order: gap LSD of `lpc_fill` at several orders, on the same files,
gaps and metric as `audiodiff evaluate --task inpaint` (which uses order 32, context 8 x order per side).

Tonal music wants long predictors: an order spans order / rate seconds of the waveform, and only an order
beyond the pitch period can continue a note. Each row is the mean over files; compare the model's figures
from `audiodiff evaluate` with the best order, not with order 32.

    python bench/lpc_order.py --data DATA/chorales/test --limit 16 --seconds 2 --out bench/results/lpc_order_chorales
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from audiodiff.baselines import lpc_fill
from audiodiff.evaluation import GAP_FLOOR_DB, centred_gap, gap_lsd, inpaint_clips
from audiodiff.operators import Mask


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of test audio (a recipe's test split)")
    p.add_argument("--gap-ms", default="50,100,200,300")
    p.add_argument("--orders", default="32,128,512,1024")
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--seconds", type=float, default=None, help="crop each file to its first SECONDS")
    p.add_argument("--sample-rate", type=int, default=16000, help="the model's rate, as evaluate resamples")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args(argv)
    gaps = [float(g) for g in args.gap_ms.split(",")]
    orders = [int(o) for o in args.orders.split(",")]
    sr, begin = args.sample_rate, time.time()
    scores: dict[tuple[str, float, int], list[float]] = {}  # (metric, gap, order)
    files = []
    for path, ref in inpaint_clips(args.data, sr, gaps, seconds=args.seconds, limit=args.limit):
        n = ref.shape[-1]
        files.append(str(path))
        for ms in gaps:
            start, width = centred_gap(n, ms, sr)
            known = Mask.from_gaps([(start / sr, (start + width) / sr)], length=n, rate=sr).known.expand_as(ref)
            for order in orders:
                out = lpc_fill(ref, known, order=order)
                scores.setdefault(("lsd", ms, order), []).append(gap_lsd(out, ref, start, width).mean().item())
                scores.setdefault(("lsd60", ms, order), []).append(
                    gap_lsd(out, ref, start, width, floor_db=GAP_FLOOR_DB).mean().item())
    if not files:
        raise SystemExit(f"no usable file in {args.data}")
    means = {key: statistics.mean(v) for key, v in scores.items()}
    lines = [f"LPC gap LSD by order, {len(files)} files of `{args.data}` at {sr} Hz"
             + (f", first {args.seconds:g} s" if args.seconds else "") + f" ({time.time() - begin:.0f} s)"]
    for metric, name in (("lsd", "plain LSD"), ("lsd60", f"LSD floored {GAP_FLOOR_DB:g} dB under the peak")):
        lines += ["", f"{name}:", "", "| gap | " + " | ".join(f"order {o}" for o in orders) + " |",
                  "|---|" + "---|" * len(orders)]
        for ms in gaps:
            row = [means[metric, ms, o] for o in orders]
            cells = [f"**{v:.3f}**" if v == min(row) else f"{v:.3f}" for v in row]
            lines.append(f"| {ms:g} ms | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    result = {"data": args.data, "files": len(files), "seconds": args.seconds, "orders": orders,
              **{metric: {f"{ms:g}": {str(o): means[metric, ms, o] for o in orders} for ms in gaps}
                 for metric in ("lsd", "lsd60")}}
    if args.out:
        Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
