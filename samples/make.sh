#!/usr/bin/env bash
# Regenerate samples/ from the shipped default models with fixed seeds (run from anywhere, package installed).
# Each clip comes with its spectrogram PNG (STFT magnitude in dBFS). Inputs for the restoration pairs are the
# repo's own test clips (tests/data: espeak-ng speech, fluidsynth piano), degraded here.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf digits music speech
audiodiff generate -o digits --plot --seed 0 --no-progress                               # one clip per digit
audiodiff generate --model music -n 3 --seconds 4 -o music/generated --plot --seed 0 --no-progress

mkdir -p speech/restoration music/restoration
# degraded inputs: gaps zeroed (what inpainting sees) and a 4 kHz band limit (what extension sees)
python - <<'EOF'
import audiodiff as ad
from audiodiff.evaluation import band_limited
for name, model, gaps in (("speech", "speech", [(0.6, 0.65), (1.2, 1.3), (1.8, 2.0)]),
                          ("piano", "music", [(0.7, 0.75), (1.4, 1.5), (2.2, 2.4)])):
    wav, sr = ad.load_audio(f"../tests/data/{name}.wav")
    folder = f"{model}/restoration"
    ad.save_audio(f"{folder}/{name}_reference.wav", wav, sr)
    known = ad.Mask.from_gaps(gaps, length=wav.shape[-1], rate=sr).known
    ad.save_audio(f"{folder}/{name}_gaps.wav", wav * known, sr)
    ad.save_audio(f"{folder}/{name}_4khz.wav", band_limited(wav, sr, 4000), sr)
EOF
for pair in "speech speech 0.6:0.65 1.2:1.3 1.8:2.0" "piano music 0.7:0.75 1.4:1.5 2.2:2.4"; do
  set -- $pair
  name=$1 model=$2 dir=$2/restoration
  audiodiff inpaint $dir/${name}_gaps.wav -o $dir/${name}_inpainted.wav --model $model --plot --no-progress \
    --gap $3 --gap $4 --gap $5
  audiodiff extend $dir/${name}_4khz.wav -o $dir/${name}_extended.wav --model $model --cutoff 4000 --plot \
    --no-progress
done
du -sh .
