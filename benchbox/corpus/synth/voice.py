"""Speech-like audio by source-filter synthesis, with prosody that follows the expressed emotion.

A glottal pulse train (KLGLOTT88-style flow derivative) with aspiration noise is shaped by a spectral
tilt filter and four formant resonators whose targets glide from vowel to vowel; consonant onsets add
frication or a plosive burst. Controls are computed on a 10 ms grid from the :class:`Timeline` and the
expressed arousal and valence:

* arousal raises pitch level and range, loudness and speaking rate, flattens the spectral tilt and
  presses the voice (smaller open quotient), and shortens pauses (see :mod:`.timeline`);
* valence raises pitch a little and shifts formants up (a smile shortens the vocal tract).

Then background noise at the subject's SNR, occasional non-speech noises and a microphone high-pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from benchbox.corpus.synth.latent import smooth_process
from benchbox.corpus.synth.subject import VoiceStyle
from benchbox.corpus.synth.timeline import FRICATIVE, PLOSIVE, SCHWA, VOWELS, Timeline

__all__ = ["SAMPLE_RATE_HZ", "BLOCK_S", "VoiceControls", "voice_controls", "render_audio"]

SAMPLE_RATE_HZ = 16_000
#: Control grid of the synthesiser: one set of parameters per 10 ms block.
BLOCK_S = 0.01
_BLOCK = int(SAMPLE_RATE_HZ * BLOCK_S)
_BANDWIDTHS_HZ = np.array([90.0, 110.0, 160.0, 220.0])
#: Speech level (RMS while voiced) at 0 dB of the subject's level, before the microphone.
_REFERENCE_RMS = 0.06
_HISS_SOS = butter(4, [2500, 7000], "bandpass", fs=SAMPLE_RATE_HZ, output="sos")



def _high_shelf(frequency_hz: float, gain_db: float) -> np.ndarray:
    """RBJ cookbook high-shelf biquad (slope 1) as one second-order section."""
    amplitude = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * frequency_hz / SAMPLE_RATE_HZ
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cos_w0, root = np.cos(w0), 2 * np.sqrt(amplitude) * alpha
    b = amplitude * np.array([(amplitude + 1) + (amplitude - 1) * cos_w0 + root,
                              -2 * ((amplitude - 1) + (amplitude + 1) * cos_w0),
                              (amplitude + 1) + (amplitude - 1) * cos_w0 - root])
    a = np.array([(amplitude + 1) - (amplitude - 1) * cos_w0 + root,
                  2 * ((amplitude - 1) - (amplitude + 1) * cos_w0),
                  (amplitude + 1) - (amplitude - 1) * cos_w0 - root])
    return np.r_[b / a[0], a / a[0]]


#: Stands in for the resonances above F4 that a four-formant cascade lacks (keeps 3-6 kHz audible).
_HIGH_SHELVES_SOS = np.stack([_high_shelf(3000.0, 20.0), _high_shelf(4500.0, 20.0)])

try:  # the kernel behind scipy.signal.sosfilt, without its ~25 us of checks per call (one call per block)
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - other SciPy layouts: the public function gives the same numbers
    _sosfilt_kernel = None


@dataclasses.dataclass(frozen=True)
class VoiceControls:
    """Synthesiser parameters per 10 ms block.

    Attributes:
        voicing: Linear amplitude of the voiced source (0 in silence).
        frication: Linear amplitude of fricative noise.
        burst: Linear amplitude of plosive bursts.
        f0_hz: Fundamental frequency (defined everywhere, meaningful where voiced).
        formants_hz: ``(blocks, 4)`` resonance frequencies.
        open_quotient: Glottal open quotient.
        emphasis: Zero of the first-order high-frequency emphasis on the source (higher = brighter voice,
            a flatter spectral tilt).
        jaw: Mouth opening 0..1 caused by speaking (drives the face's mouth).
    """

    voicing: np.ndarray
    frication: np.ndarray
    burst: np.ndarray
    f0_hz: np.ndarray
    formants_hz: np.ndarray
    open_quotient: np.ndarray
    emphasis: np.ndarray
    jaw: np.ndarray


def voice_controls(rng: np.random.Generator, timeline: Timeline, voice: VoiceStyle, arousal: np.ndarray,
                   valence: np.ndarray, *, num_blocks: int) -> VoiceControls:
    """Controls for ``num_blocks`` 10 ms blocks; ``arousal``/``valence`` are given per block."""
    t = (np.arange(num_blocks) + 0.5) * BLOCK_S
    count = timeline.onset_s.size
    syllable = np.searchsorted(timeline.onset_s, t, side="right") - 1
    index = np.clip(syllable, 0, max(count - 1, 0))
    if count == 0:
        active = np.zeros(num_blocks, dtype=bool)
        onset = duration = np.ones(num_blocks)
    else:
        onset, duration = timeline.onset_s[index], timeline.duration_s[index]
        active = (syllable >= 0) & (t < onset + duration)
    phase = np.clip((t - onset) / duration, 0.0, 1.0)
    consonant = timeline.consonant[index] if count else np.zeros(num_blocks, np.int8)
    stress = timeline.stress[index].astype(np.float64) if count else np.zeros(num_blocks)
    onset_share = np.where(consonant > 0, 0.3, 0.0)
    vowel_phase = (phase - onset_share) / (1.0 - onset_share)
    in_vowel = active & (vowel_phase >= 0)
    envelope = np.where(in_vowel, np.sin(np.pi * np.clip(vowel_phase, 0, 1)) ** 0.6, 0.0)

    # utterance-level structure: position, declination, random level and pitch offsets
    if count:
        utterance = timeline.utterance[index]
        start, end = timeline.utterance_start_s[utterance], timeline.utterance_end_s[utterance]
        position = np.clip((t - start) / np.maximum(end - start, 1e-3), 0.0, 1.0)
        num_utterances = timeline.utterance_start_s.size
        utterance_gain_db = rng.normal(0.0, 1.0, num_utterances)[utterance]
        utterance_pitch_st = rng.normal(0.0, 1.0, num_utterances)[utterance]
        last = np.r_[timeline.utterance[1:] != timeline.utterance[:-1], True][index]
        rise = timeline.utterance_rise[utterance].astype(np.float64)
        same_utterance = np.r_[False, timeline.utterance[1:] == timeline.utterance[:-1]][index]
        previous_vowel = np.where(same_utterance, timeline.vowel[np.clip(index - 1, 0, None)], SCHWA)
        current_vowel = timeline.vowel[index]
    else:
        position = utterance_gain_db = utterance_pitch_st = rise = np.zeros(num_blocks)
        last = np.zeros(num_blocks, dtype=bool)
        previous_vowel = current_vowel = np.full(num_blocks, SCHWA)

    level_db = voice.level_db + 12.0 * arousal + 2.5 * stress + utterance_gain_db - 3.0 * position
    amplitude = _REFERENCE_RMS * 10 ** (level_db / 20)
    voicing = amplitude * envelope
    fricative_part = active & (consonant == FRICATIVE) & (phase < onset_share)
    frication = np.where(fricative_part, 0.8 * amplitude * np.sin(np.pi * phase / 0.3), 0.0)
    burst_part = active & (consonant == PLOSIVE) & (phase < onset_share) & (phase > onset_share - 0.04 / duration)
    burst = np.where(burst_part, 0.5 * amplitude, 0.0)

    pitch_range = voice.pitch_range * np.clip(1.0 + 0.8 * arousal, 0.3, None)
    accent = stress * 2.5 * np.sin(np.pi * np.clip(vowel_phase, 0, 1))
    contour = np.where(last, np.where(rise > 0, 4.0, -2.0) * np.clip(vowel_phase, 0, 1), 0.0)
    jitter = 0.35 * smooth_process(rng, num_blocks, BLOCK_S, time_scale_s=0.08)
    semitones = (8.0 * arousal + 1.5 * valence + utterance_pitch_st
                 + pitch_range * (1.5 - 3.0 * position + accent + contour) + jitter)
    f0_hz = voice.f0_hz * 2 ** (semitones / 12)

    glide = np.clip(phase / 0.5, 0.0, 1.0)
    glide = glide * glide * (3 - 2 * glide)
    targets = VOWELS[previous_vowel, :4] + glide[:, None] * (VOWELS[current_vowel, :4] - VOWELS[previous_vowel, :4])
    formants = targets * voice.formant_scale * (1.0 + 0.04 * valence)[:, None]
    formants[:, 0] *= 1.0 + 0.08 * arousal
    openness = VOWELS[current_vowel, 4]
    jaw = np.clip(envelope * (0.35 + 0.65 * openness) * np.clip(1 + 0.3 * arousal, 0.5, None), 0.0, 1.0)
    return VoiceControls(
        voicing=voicing,
        frication=frication,
        burst=burst,
        f0_hz=f0_hz,
        formants_hz=np.minimum(formants, 0.45 * SAMPLE_RATE_HZ),
        open_quotient=np.clip(voice.open_quotient - 0.15 * arousal, 0.35, 0.8),
        emphasis=np.clip(0.55 + 0.35 * arousal, 0.2, 0.9),
        jaw=jaw,
    )


def _filter_sections(controls: VoiceControls) -> np.ndarray:
    """Second-order sections ``(blocks, 5, 6)``: the spectral-tilt emphasis (unit gain at 500 Hz) and four
    formant resonators (unit gain at DC)."""
    num_blocks = controls.f0_hz.size
    sos = np.zeros((num_blocks, 5 + len(_HIGH_SHELVES_SOS), 6))
    sos[:, 5:] = _HIGH_SHELVES_SOS
    zero = controls.emphasis
    gain_500_hz = np.abs(1 - zero * np.exp(-2j * np.pi * 500 / SAMPLE_RATE_HZ))
    sos[:, 0, 0] = 1 / gain_500_hz
    sos[:, 0, 1] = -zero / gain_500_hz
    sos[:, 0, 3] = 1.0
    radius = np.exp(-np.pi * _BANDWIDTHS_HZ / SAMPLE_RATE_HZ)[None, :]
    theta = 2 * np.pi * controls.formants_hz / SAMPLE_RATE_HZ
    a1 = -2 * radius * np.cos(theta)
    a2 = np.broadcast_to(radius**2, a1.shape)
    sos[:, 1:5, 0] = 1 + a1 + a2
    sos[:, 1:5, 3] = 1.0
    sos[:, 1:5, 4] = a1
    sos[:, 1:5, 5] = a2
    return sos


def _block_ramps(values: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Per-sample values ``(len(blocks), block)`` ramping linearly from each block's value to the next's."""
    following = values[np.minimum(blocks + 1, values.size - 1)]
    ramp = np.arange(_BLOCK) / _BLOCK
    return values[blocks, None] + (following - values[blocks])[:, None] * ramp[None, :]


def _filter_block(sos: np.ndarray, x: np.ndarray, state: np.ndarray) -> np.ndarray:
    """``sosfilt`` of one block with carried state (``state`` is updated in place)."""
    if _sosfilt_kernel is None:
        y, state[...] = sosfilt(sos, x, zi=state)
        return y
    y = np.array(x[None, :], dtype=np.float64, order="C")
    zi = state[None]
    _sosfilt_kernel(np.ascontiguousarray(sos), y, zi)
    state[...] = zi[0]
    return y[0]


def _voiced_speech(rng: np.random.Generator, controls: VoiceControls, voice: VoiceStyle,
                   num_samples: int) -> np.ndarray:
    """Glottal source plus aspiration through the time-varying filter, computed only where voiced.

    Work happens on a ``(sounding blocks, samples per block)`` layout, so silence (about half of a
    session) costs nothing; the glottal phase runs on across the sounding blocks.
    """
    sounding = controls.voicing > 0
    sounding = sounding | np.r_[False, sounding[:-1]] | np.r_[False, False, sounding[:-2]]  # let resonances ring
    blocks = np.flatnonzero(sounding[: (num_samples + _BLOCK - 1) // _BLOCK])
    out = np.zeros(((num_samples + _BLOCK - 1) // _BLOCK) * _BLOCK)
    if blocks.size == 0:
        return out[:num_samples]
    increment = _block_ramps(controls.f0_hz, blocks) / SAMPLE_RATE_HZ
    within = np.cumsum(increment, axis=1)
    start = np.r_[0.0, np.cumsum(within[:-1, -1])]
    cycle = within + (start - np.floor(start))[:, None]
    cycle -= np.floor(cycle)
    x = cycle / controls.open_quotient[blocks, None]
    is_open = x < 1.0
    glottal = np.where(is_open, x * (2.0 - 3.0 * x), 0.0)
    aspiration = rng.standard_normal(glottal.shape) * np.where(is_open, 1.0, 0.35) * voice.breathiness
    source = _block_ramps(controls.voicing, blocks) * (3.0 * glottal + aspiration)

    sos = _filter_sections(controls)
    speech = out.reshape(-1, _BLOCK)
    state = np.zeros((sos.shape[1], 2))
    previous = -2
    for row, block in enumerate(blocks):
        if block != previous + 1:
            state[:] = 0.0
        speech[block] = _filter_block(sos[block], source[row], state)
        previous = block
    return out[:num_samples]


def _noise_bursts(rng: np.random.Generator, controls: VoiceControls, num_samples: int) -> np.ndarray:
    """Frication (band-passed noise) and plosive bursts, generated only in the blocks that have them."""
    out = np.zeros(((num_samples + _BLOCK - 1) // _BLOCK) * _BLOCK)
    blocks = np.flatnonzero((controls.frication > 0) | (controls.burst > 0))
    blocks = blocks[blocks < out.size // _BLOCK]
    if blocks.size == 0:
        return out[:num_samples]
    hiss = sosfilt(_HISS_SOS, rng.standard_normal(blocks.size * _BLOCK)).reshape(-1, _BLOCK)
    noise = rng.standard_normal(hiss.shape)
    out.reshape(-1, _BLOCK)[blocks] = (2.0 * hiss * _block_ramps(controls.frication, blocks)
                                       + noise * controls.burst[blocks, None])
    return out[:num_samples]


def _noise_events(rng: np.random.Generator, voice: VoiceStyle, num_samples: int, level: float) -> np.ndarray:
    """Knocks, clicks and rustles at random times, unrelated to emotion."""
    out = np.zeros(num_samples)
    count = rng.poisson(voice.events_per_min * num_samples / SAMPLE_RATE_HZ / 60)
    for _ in range(count):
        kind = rng.integers(0, 3)
        length = int(rng.uniform(0.03, 0.5) * SAMPLE_RATE_HZ)
        start = int(rng.integers(0, max(num_samples - length, 1)))
        length = min(length, num_samples - start)
        n = np.arange(length) / SAMPLE_RATE_HZ
        gain = level * 10 ** (rng.uniform(-25, -3) / 20)
        if kind == 0:  # click
            event = rng.standard_normal(length) * np.exp(-n / 0.004)
        elif kind == 1:  # knock: damped low resonance
            event = np.sin(2 * np.pi * rng.uniform(80, 300) * n) * np.exp(-n / rng.uniform(0.02, 0.08)) * 2
        else:  # rustle: band-limited noise with a smooth envelope
            low_hz = rng.uniform(300, 3000)
            band = butter(2, [low_hz, low_hz * rng.uniform(1.5, 2.5)], "bandpass", fs=SAMPLE_RATE_HZ, output="sos")
            event = sosfilt(band, rng.standard_normal(length)) * np.sin(np.pi * n / max(n[-1], 1e-3)) * 2
        out[start:start + length] += gain * event
    return out


def render_audio(rng: np.random.Generator, controls: VoiceControls, voice: VoiceStyle, num_samples: int) -> np.ndarray:
    """The recording: speech, background noise at the subject's SNR, noise events, microphone; int16 PCM."""
    speech = _voiced_speech(rng, controls, voice, num_samples) + _noise_bursts(rng, controls, num_samples)
    voiced_samples = np.repeat(controls.voicing > 0.3 * controls.voicing.max(initial=0.0), _BLOCK)[:num_samples]
    speech_rms = float(np.sqrt(np.mean(speech[voiced_samples] ** 2))) if voiced_samples.any() else _REFERENCE_RMS
    background = lfilter([1.0 - voice.noise_tilt], [1.0, -voice.noise_tilt], rng.standard_normal(num_samples))
    background *= speech_rms * 10 ** (-voice.snr_db / 20) / max(float(np.std(background)), 1e-12)
    mix = speech + background + _noise_events(rng, voice, num_samples, speech_rms)
    mix = sosfilt(butter(2, 70, "highpass", fs=SAMPLE_RATE_HZ, output="sos"), mix)
    mix = np.tanh(mix / 0.95) * 0.95  # soft limiter: loud peaks compress instead of wrapping around
    return np.round(mix * 32767).astype(np.int16)
