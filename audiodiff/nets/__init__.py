"""Denoiser networks: a net maps (x_in [B, C, L], c_noise [B], labels [B] | None) to [B, C_out, L]."""
from .unet1d import PRESETS, UNet1d

__all__ = ["PRESETS", "UNet1d"]
