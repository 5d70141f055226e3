#!/usr/bin/env bash
# Regenerate samples/ from the shipped default models with fixed seeds (run from anywhere, package installed).
# Each clip comes with its spectrogram PNG (STFT magnitude in dBFS).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf digits
audiodiff generate -o digits --plot --seed 0 --no-progress          # model "digits": one clip per digit
