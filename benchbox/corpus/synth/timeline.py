"""When the subject speaks: turns, utterances and syllables, shared by the voice and the face.

The subject alternates between holding the turn (speaking) and listening. A speaking turn is a run of
utterances separated by short pauses; an utterance is a run of syllables. Expressed arousal makes turns
longer, pauses shorter and syllables faster; valence speeds speech up a little.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchbox.corpus.synth.subject import VoiceStyle

__all__ = ["VOWELS", "Timeline", "draw_timeline"]

#: Vowel targets (F1..F4 in Hz for an adult male vocal tract) and mouth opening 0..1.
VOWELS = np.array(
    [
        [730, 1090, 2440, 3400, 1.0],  # a
        [530, 1840, 2480, 3500, 0.6],  # e
        [270, 2290, 3010, 3700, 0.25],  # i
        [570, 840, 2410, 3400, 0.7],  # o
        [300, 870, 2240, 3300, 0.3],  # u
        [500, 1500, 2500, 3500, 0.5],  # schwa
        [390, 1990, 2550, 3600, 0.4],  # y-like
    ]
)
SCHWA = 5
#: Consonant kinds at a syllable onset.
NO_CONSONANT, FRICATIVE, PLOSIVE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Syllables and utterances of one session (times in seconds from media time 0).

    Attributes:
        onset_s, duration_s: Start and length of every syllable.
        stress: 1 for accented syllables, 0 otherwise.
        vowel: Row of :data:`VOWELS` of the syllable's nucleus.
        consonant: Onset kind (:data:`NO_CONSONANT`, :data:`FRICATIVE`, :data:`PLOSIVE`).
        utterance: Index of the utterance each syllable belongs to.
        utterance_start_s, utterance_end_s: Extent of every utterance.
        utterance_rise: 1 where an utterance ends with a rising contour (a question), else 0.
    """

    onset_s: np.ndarray
    duration_s: np.ndarray
    stress: np.ndarray
    vowel: np.ndarray
    consonant: np.ndarray
    utterance: np.ndarray
    utterance_start_s: np.ndarray
    utterance_end_s: np.ndarray
    utterance_rise: np.ndarray


def draw_timeline(rng: np.random.Generator, voice: VoiceStyle, arousal: np.ndarray, valence: np.ndarray, *,
                  step_s: float, seconds: float) -> Timeline:
    """Turn-taking and syllables for ``seconds`` of recording, driven by expressed emotion on a grid."""

    def at(trace: np.ndarray, t: float) -> float:
        return float(trace[min(int(t / step_s), len(trace) - 1)])

    share = voice.speaking_share
    listen_mean_s = 4.0
    speak_mean_s = listen_mean_s * share / (1 - share)
    syllables: list[tuple[float, float, int, int, int, int]] = []
    utterances: list[tuple[float, float, int]] = []
    t = rng.uniform(0.0, 2.0)
    speaking_turn = bool(rng.random() < share)
    previous_vowel = SCHWA
    while t < seconds:
        a = at(arousal, t)
        if not speaking_turn:
            t += rng.gamma(2.0, listen_mean_s * np.exp(-0.8 * a) / 2.0)
            speaking_turn = True
            continue
        turn_end = t + rng.gamma(2.0, speak_mean_s * np.exp(0.8 * a) / 2.0)
        while t < min(turn_end, seconds):
            a, v = at(arousal, t), at(valence, t)
            length_s = rng.gamma(3.0, 2.2 * np.exp(0.3 * a) / 3.0)
            rate_hz = voice.syllable_rate_hz * np.exp(0.35 * a + 0.08 * v)
            start = t
            end = min(start + max(length_s, 0.3), seconds)
            while t < end:
                duration = float(np.clip(rng.lognormal(0.0, 0.25) / rate_hz, 0.08, 0.45))
                stressed = int(rng.random() < 0.3)
                if stressed:
                    duration *= 1.3
                vowel = int(rng.integers(0, len(VOWELS)))
                if vowel == previous_vowel:
                    vowel = (vowel + 1) % len(VOWELS)
                previous_vowel = vowel
                consonant = int(rng.choice(3, p=(0.3, 0.35, 0.35)))
                if t + duration > seconds:
                    break
                syllables.append((t, duration, stressed, vowel, consonant, len(utterances)))
                t += duration
            if syllables and syllables[-1][5] == len(utterances):
                utterances.append((start, t, int(rng.random() < 0.2)))
            previous_vowel = SCHWA
            t += rng.gamma(2.0, 0.55 * np.exp(-1.2 * a) / 2.0) + 0.12  # pause between utterances
        speaking_turn = False
    columns = list(zip(*syllables, strict=True)) if syllables else [()] * 6
    u_columns = list(zip(*utterances, strict=True)) if utterances else [()] * 3
    return Timeline(
        onset_s=np.asarray(columns[0], dtype=np.float64),
        duration_s=np.asarray(columns[1], dtype=np.float64),
        stress=np.asarray(columns[2], dtype=np.int8),
        vowel=np.asarray(columns[3], dtype=np.int64),
        consonant=np.asarray(columns[4], dtype=np.int8),
        utterance=np.asarray(columns[5], dtype=np.int64),
        utterance_start_s=np.asarray(u_columns[0], dtype=np.float64),
        utterance_end_s=np.asarray(u_columns[1], dtype=np.float64),
        utterance_rise=np.asarray(u_columns[2], dtype=np.int8),
    )
