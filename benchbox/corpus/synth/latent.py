"""Latent emotion of one session: smooth random processes for arousal and valence.

Each dimension is a session offset plus smooth processes at several time scales plus sparse positive
events (laughs, lively moments, which raise arousal and valence together). Every part is split into what
the subject *expresses* (what voice and face carry) and a part no modality explains, so that even a
perfect model of the media cannot reach a CCC of 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import lfilter

__all__ = ["LatentEmotion", "smooth_process", "draw_latent_emotion"]

#: Time scales (seconds) and standard deviations of the smooth components, per dimension.
_COMPONENTS = {
    "arousal": ((45.0, 0.12), (12.0, 0.15), (4.0, 0.08)),
    "valence": ((60.0, 0.09), (15.0, 0.11), (5.0, 0.05)),
}
#: Session offsets (mean, sd) in RECOLA's range: arousal around 0, valence mostly positive.
_OFFSETS = {"arousal": (0.02, 0.1), "valence": (0.1, 0.07)}
#: Share of each component's variance that the media express.
_EXPRESSED_SHARE = 0.62


def smooth_process(rng: np.random.Generator, num_steps: int, step_s: float, time_scale_s: float) -> np.ndarray:
    """Zero-mean, unit-variance smooth Gaussian process (two cascaded Ornstein-Uhlenbeck filters).

    The cascade's stationary variance is ``(1 + phi^2) / (1 - phi^2)`` times the input's for a gain of
    ``1 - phi^2``; the output is scaled by its theoretical standard deviation (not the sample one), so
    its amplitude varies naturally between sessions. A burn-in of three time scales makes it stationary.
    """
    phi = float(np.exp(-step_s / time_scale_s))
    burn_in = int(np.ceil(3 * time_scale_s / step_s))
    noise = rng.standard_normal(num_steps + burn_in)
    gain = 1.0 - phi**2
    out = lfilter([gain], [1.0, -2 * phi, phi**2], noise)
    out /= np.sqrt(gain**2 * (1 + phi**2) / (1 - phi**2) ** 3)
    return out[burn_in:]


def _events(rng: np.random.Generator, num_steps: int, step_s: float, rate_per_min: float) -> np.ndarray:
    """Sparse bumps (gamma-shaped, 3-10 s long) of unit peak height times a random amplitude."""
    duration_s = num_steps * step_s
    count = rng.poisson(rate_per_min * duration_s / 60.0)
    out = np.zeros(num_steps)
    t = np.arange(num_steps) * step_s
    for onset, length, height in zip(rng.uniform(0, duration_s, count), rng.uniform(3, 10, count),
                                     rng.uniform(0.4, 1.0, count), strict=True):
        u = np.clip((t - onset) / (length / 4), 0, None)
        out += height * (u**2 * np.exp(2 - 2 * u) * (u > 0))  # peak 1 at u = 1
    return out


@dataclasses.dataclass(frozen=True)
class LatentEmotion:
    """Latent traces on a 40 ms grid starting ``lead_s`` seconds before the recording starts.

    Attributes:
        step_s: Grid step (0.04 s).
        lead_s: Seconds of trace before media time 0 (raters react with a lag, so they need them).
        expressed: ``{"arousal": trace, "valence": trace}``, the part the media show.
        unexplained: Same keys, the part no modality carries.
    """

    step_s: float
    lead_s: float
    expressed: dict[str, np.ndarray]
    unexplained: dict[str, np.ndarray]

    def total(self, name: str) -> np.ndarray:
        """What the raters perceive: expressed plus unexplained."""
        return self.expressed[name] + self.unexplained[name]

    def media(self, name: str, num_frames: int) -> np.ndarray:
        """Expressed trace from media time 0 on, ``num_frames`` long."""
        start = int(round(self.lead_s / self.step_s))
        return self.expressed[name][start:start + num_frames]


def draw_latent_emotion(rng: np.random.Generator, *, seconds: float, step_s: float, lead_s: float) -> LatentEmotion:
    """Arousal and valence for one session, in roughly [-0.5, 0.8] like RECOLA's gold standard."""
    num_steps = int(round((seconds + lead_s) / step_s)) + 1
    liveliness = rng.lognormal(0.0, 0.3)  # how much this subject's emotion moves
    events = _events(rng, num_steps, step_s, rate_per_min=rng.uniform(0.5, 2.0)) * liveliness
    expressed: dict[str, np.ndarray] = {}
    unexplained: dict[str, np.ndarray] = {}
    for name, components in _COMPONENTS.items():
        mean, sd = _OFFSETS[name]
        offset = rng.normal(mean, sd)
        shown = np.full(num_steps, offset * _EXPRESSED_SHARE)
        hidden = np.full(num_steps, offset * (1 - _EXPRESSED_SHARE))
        for time_scale_s, component_sd in components:
            amplitude = component_sd * liveliness
            shown += amplitude * np.sqrt(_EXPRESSED_SHARE) * smooth_process(rng, num_steps, step_s, time_scale_s)
            hidden += amplitude * np.sqrt(1 - _EXPRESSED_SHARE) * smooth_process(rng, num_steps, step_s, time_scale_s)
        event_height = 0.25 if name == "arousal" else 0.15
        shown += event_height * events
        # soft limits keep traces in RECOLA's range without hard edges
        expressed[name] = 0.75 * np.tanh(shown / 0.75)
        unexplained[name] = hidden
    return LatentEmotion(step_s=step_s, lead_s=lead_s, expressed=expressed, unexplained=unexplained)
