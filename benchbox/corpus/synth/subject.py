"""Who is recorded: the between-subject variation of voice, behaviour and recording conditions.

Each session has its own subject (as in RECOLA). These differences are the nuisance a model must see
through: a high-pitched, loud, fast speaker is not necessarily aroused.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchbox.corpus.synth.face import FaceStyle, draw_face_style

__all__ = ["VoiceStyle", "BehaviourStyle", "Subject", "draw_subject"]


@dataclasses.dataclass(frozen=True)
class VoiceStyle:
    """Voice and microphone of one subject.

    Attributes:
        f0_hz: Speaking pitch at neutral arousal.
        pitch_range: Multiplier of intonation movements (1 = average).
        level_db: Speech level at neutral arousal (dB relative to the generator's reference).
        syllable_rate_hz: Syllables per second at neutral arousal.
        formant_scale: Vocal tract length factor (women and children > 1).
        open_quotient: Glottal open quotient at neutral arousal (higher = breathier, softer).
        breathiness: Aspiration noise relative to voicing.
        speaking_share: Fraction of the time the subject holds the turn at neutral arousal.
        snr_db: Speech-to-background-noise ratio of the recording.
        noise_tilt: Colour of the background noise (0 white .. 0.98 rumbling).
        events_per_min: Rate of non-speech noises (knocks, clicks, rustle).
    """

    f0_hz: float
    pitch_range: float
    level_db: float
    syllable_rate_hz: float
    formant_scale: float
    open_quotient: float
    breathiness: float
    speaking_share: float
    snr_db: float
    noise_tilt: float
    events_per_min: float


@dataclasses.dataclass(frozen=True)
class BehaviourStyle:
    """How expressive the subject's face and head are, and the camera's noise.

    Attributes:
        expressivity: Gain of emotion on facial expression.
        resting_smile: Mouth-corner position at neutral valence.
        resting_eye_open: Eyelid opening at neutral arousal.
        motion_px: Head movement amplitude in pixels at neutral arousal.
        blink_rate_hz: Blinks per second at neutral arousal.
        camera_noise_sd: Standard deviation of sensor noise on the luma (0..255 scale).
    """

    expressivity: float
    resting_smile: float
    resting_eye_open: float
    motion_px: float
    blink_rate_hz: float
    camera_noise_sd: float


@dataclasses.dataclass(frozen=True)
class Subject:
    """One recorded person: sex, voice, behaviour and appearance."""

    female: bool
    voice: VoiceStyle
    behaviour: BehaviourStyle
    face: FaceStyle


def draw_subject(rng: np.random.Generator, *, width_px: int, height_px: int) -> Subject:
    """A random subject: sex, voice, behaviour and appearance."""
    female = bool(rng.random() < 0.5)
    voice = VoiceStyle(
        f0_hz=float(rng.normal(210.0, 22.0) if female else rng.normal(112.0, 14.0)),
        pitch_range=float(rng.lognormal(0.0, 0.25)),
        level_db=float(rng.normal(0.0, 3.0)),
        syllable_rate_hz=float(rng.uniform(4.8, 6.2)),
        formant_scale=float((1.15 if female else 1.0) * rng.uniform(0.95, 1.05)),
        open_quotient=float(rng.uniform(0.5, 0.65)),
        breathiness=float(rng.uniform(0.02, 0.1)),
        speaking_share=float(rng.uniform(0.45, 0.68)),
        snr_db=float(rng.uniform(12.0, 30.0)),
        noise_tilt=float(rng.uniform(0.3, 0.97)),
        events_per_min=float(rng.uniform(0.5, 4.0)),
    )
    behaviour = BehaviourStyle(
        expressivity=float(rng.lognormal(0.0, 0.25)),
        resting_smile=float(rng.normal(0.0, 0.1)),
        resting_eye_open=float(rng.uniform(0.7, 0.95)),
        motion_px=float(rng.uniform(1.5, 4.0)),
        blink_rate_hz=float(rng.uniform(0.15, 0.4)),
        camera_noise_sd=float(rng.uniform(1.0, 3.5)),
    )
    face = draw_face_style(rng, width_px=width_px, height_px=height_px, female=female)
    return Subject(female=female, voice=voice, behaviour=behaviour, face=face)
