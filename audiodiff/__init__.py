"""audiodiff: score-SDE diffusion for audio and music (Song et al. 2021), vocoder-free."""
from .audio import AudioError, is_silent, load, normalize_loudness, normalize_peak, peak_db, resample, rms_db, save
from .frontends import Frontend, LogMel, Waveform, frontend_from_config
from .nets import UNet1d
from .sde import SDE, SubVPSDE, VESDE, VPSDE, sde_from_config
from .shape import per_sample

__version__ = "0.1.0"
