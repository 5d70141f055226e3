"""audiodiff: score-SDE diffusion for audio and music (Song et al. 2021), vocoder-free."""
from .audio import AudioError, is_silent, normalize_loudness, normalize_peak, peak_db, resample, rms_db
from .audio import load as load_audio
from .audio import save as save_audio
from .baselines import linear_fill, lpc_fill, zeros_fill
from .checkpoint import CheckpointError, load, save_model
from .classifier import (ClipClassifier, inception_score, load_classifier, save_classifier, score_generation,
                         train_classifier)
from .config import (Config, FrontendConfig, NetConfig, SampleConfig, SDEConfig, TrainConfig, apply_overrides,
                     build_model, load_recipe)
from .data import AudioFolder
from .frontends import Frontend, LogMel, Waveform, frontend_from_config
from .likelihood import bits_per_sample, log_likelihood
from .longform import generate_long, restore_long
from .losses import dsm_loss, dsm_loss_per_sample
from .metrics import lsd, mel_distance, si_sdr, snr
from .nets import UNet1d
from .operators import Clip, Compose, LowPass, Mask
from .pipeline import AudioDiffusion
from .posterior import extend, inpaint, reconstruction_guidance, replacement, solve
from .precond import ScoreModel
from .sampling import SAMPLERS, euler_maruyama, ode_heun, ode_rk45, predictor_corrector, sample, stochastic_heun
from .sde import SDE, SubVPSDE, VESDE, VPSDE, sde_from_config
from .shape import per_sample
from .splice import splice
from .train import Trainer, TrainingError

__version__ = "0.1.0"
