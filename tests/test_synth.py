"""The synthetic RECOLA-shaped corpus: layout and formats, determinism, gold standard, learnability."""

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile
from scipy.ndimage import uniform_filter1d

from benchbox.corpus.arff import read_arff
from benchbox.corpus.avec2016 import SYNTHETIC_MARKER, load_corpus
from benchbox.corpus.synth import GENERATOR_NAME, RATER_NAMES, avec2016_gold_standard, synthesize
from benchbox.corpus.synth import generate as generate_module
from benchbox.corpus.synth.generate import session_generator
from benchbox.corpus.synth.latent import draw_latent_emotion
from benchbox.corpus.synth.raters import draw_raters, simulate_ratings
from benchbox.corpus.synth.subject import draw_subject
from benchbox.corpus.synth.video import add_h264_stream
from benchbox.errors import BenchboxError, CorpusError
from benchbox.metrics import ccc_score

SECONDS = 6.0
LABEL_FRAMES = 151  # 6 s / 0.04 + 1
SESSIONS = ("train_1", "test_1")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two 6 s sessions generated in this process."""
    done = []
    root = synthesize(tmp_path_factory.mktemp("synth") / "a", train=1, dev=0, test=1, seconds=SECONDS, seed=0,
                      workers=1, progress=done.append)
    assert sorted(done) == sorted(SESSIONS)
    return root


@pytest.fixture(scope="module")
def larger_corpus(tmp_path_factory):
    """Same seed, more sessions, two worker processes."""
    return synthesize(tmp_path_factory.mktemp("synth") / "b", train=2, dev=1, test=1, seconds=SECONDS, seed=0,
                      workers=2)


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth") / "c", train=1, dev=0, test=0, seconds=SECONDS, seed=1,
                      workers=1)


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


# --- layout and formats ------------------------------------------------------------------------------


def test_layout_has_every_file_of_the_avec2016_package(corpus):
    expected = {f"recordings_audio/{s}.wav" for s in SESSIONS} | {f"recordings_video/{s}.mp4" for s in SESSIONS}
    for target in ("arousal", "valence"):
        expected |= {f"ratings_gold_standard/{target}/{s}.arff" for s in SESSIONS}
        expected |= {f"ratings_individual/{target}/{s}.csv" for s in SESSIONS}
    found = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}
    assert found == expected | {SYNTHETIC_MARKER}


def test_marker_records_generator_and_parameters(corpus):
    marker = json.loads((corpus / SYNTHETIC_MARKER).read_text())
    assert marker["generator"] == GENERATOR_NAME and marker["version"]
    assert {k: marker[k] for k in ("seed", "train", "dev", "test", "seconds")} == {
        "seed": 0, "train": 1, "dev": 0, "test": 1, "seconds": SECONDS}
    assert (marker["sample_rate_hz"], marker["fps"], marker["frame_width_px"], marker["frame_height_px"]) == (
        16000, 25, 320, 240)


def test_reader_accepts_the_corpus_and_says_it_is_synthetic(corpus):
    loaded = load_corpus(corpus)
    assert loaded.synthetic and loaded.generator["generator"] == GENERATOR_NAME
    assert [s.id for s in loaded] == ["test_1", "train_1"]
    assert all(s.labels.shape == (LABEL_FRAMES, 2) for s in loaded)


@pytest.mark.parametrize("session_id", SESSIONS)
def test_wav_is_16k_mono_pcm16_of_exact_length(corpus, session_id):
    info = soundfile.info(str(corpus / "recordings_audio" / f"{session_id}.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, int(SECONDS * 16000), "PCM_16")


def test_mp4_is_h264_25fps_with_one_frame_per_40ms(corpus):
    with av.open(str(corpus / "recordings_video" / "train_1.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 25
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        frames = list(container.decode(video=0))
    assert len(frames) == int(SECONDS * 25)
    assert frames[0].format.name == "yuv420p"
    np.testing.assert_allclose([float(f.time) for f in frames], np.arange(len(frames)) / 25, atol=1e-9)


@pytest.mark.parametrize("target", ["arousal", "valence"])
def test_gold_standard_arff_has_the_avec_format(corpus, target):
    path = corpus / "ratings_gold_standard" / target / "test_1.arff"
    assert path.read_text().startswith(
        "@relation GOLDSTANDARD\n\n@attribute Instance_name string\n@attribute frameTime numeric\n"
        "@attribute GoldStandard numeric\n\n@data\n\ntest_1,0.000000,"
    )
    table = read_arff(path)
    assert table.num_rows == LABEL_FRAMES and set(table.columns["Instance_name"]) == {"test_1"}
    np.testing.assert_allclose(table.numeric("frameTime"), np.arange(LABEL_FRAMES) * 0.04, atol=1e-9)
    assert np.all(np.abs(table.numeric("GoldStandard")) <= 1)


def test_individual_ratings_csv_has_six_raters_per_label_frame(corpus):
    lines = (corpus / "ratings_individual" / "valence" / "train_1.csv").read_text().splitlines()
    assert lines[0] == "time;FM1;FM2;FM3;FF1;FF2;FF3"
    rows = np.array([[float(v) for v in line.split(";")] for line in lines[1:]])
    assert rows.shape == (LABEL_FRAMES, 7)
    np.testing.assert_allclose(rows[:, 0], np.arange(LABEL_FRAMES) * 0.04, atol=1e-9)
    assert np.all(np.abs(rows[:, 1:]) <= 1)


def test_gold_standard_file_is_the_avec2016_gold_of_the_individual_ratings(corpus):
    lines = (corpus / "ratings_individual" / "arousal" / "train_1.csv").read_text().splitlines()[1:]
    ratings = np.array([[float(v) for v in line.split(";")[1:]] for line in lines])
    gold = read_arff(corpus / "ratings_gold_standard" / "arousal" / "train_1.arff").numeric("GoldStandard")
    np.testing.assert_allclose(gold, np.clip(avec2016_gold_standard(ratings), -1, 1), atol=2e-6)


# --- determinism and independence -------------------------------------------------------------------


@pytest.mark.parametrize("relative", [
    "recordings_audio/train_1.wav", "recordings_audio/test_1.wav",
    "recordings_video/train_1.mp4", "recordings_video/test_1.mp4",
    "ratings_gold_standard/arousal/train_1.arff", "ratings_gold_standard/valence/test_1.arff",
    "ratings_individual/arousal/test_1.csv",
])
def test_a_session_does_not_depend_on_corpus_size_or_worker_count(corpus, larger_corpus, relative):
    assert (corpus / relative).read_bytes() == (larger_corpus / relative).read_bytes()


def _encode(frames) -> bytes:
    """``frames`` (grey, 240x320) encoded with the corpus's stream settings (:func:`add_h264_stream`)."""
    import io

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = add_h264_stream(container, 320, 240)
        for k, grey in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.vstack([grey, np.full((120, 320), 128, np.uint8)]),
                                                 format="yuv420p")
            picture.pts = k
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def test_the_encoding_does_not_depend_on_the_process_memory_state():
    """libx264's SIMD code encoded the same frames differently now and then, depending on what the process had
    allocated before (4 of 80 encodings of 150 frames); ``ENCODER_OPTIONS`` turns it off. Encodings of one clip
    with unrelated allocations of random sizes between them must be byte-identical (with SIMD on, this test
    failed 4 times in 10)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    frames = [np.clip(np.roll(texture, k, axis=1) + rng.integers(-3, 4, (240, 320)), 0, 255).astype(np.uint8)
              for k in range(150)]
    held, encodings = [], set()
    for _ in range(12):
        held.extend(np.empty(int(size), np.uint8) for size in rng.integers(1, 400_000, 50))
        del held[: int(rng.integers(0, len(held)))]
        encodings.add(_encode(frames))
    assert len(encodings) == 1


def test_in_process_generation_renders_on_one_opencv_thread_like_the_workers(tmp_path, monkeypatch):
    """The worker processes render on one OpenCV thread; this process does too, then restores its count."""
    seen = []
    real = generate_module.generate_session

    def spy(root, session_id, *, seed, seconds):
        seen.append(cv2.getNumThreads())
        return real(root, session_id, seed=seed, seconds=seconds)

    monkeypatch.setattr(generate_module, "generate_session", spy)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        synthesize(tmp_path / "t", train=1, dev=0, test=0, seconds=0.4, workers=1)
        assert seen == [1] and cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


@pytest.mark.parametrize("relative", [
    "recordings_audio/train_1.wav", "recordings_video/train_1.mp4", "ratings_gold_standard/arousal/train_1.arff",
])
def test_different_seed_gives_different_content(corpus, other_seed, relative):
    assert (corpus / relative).read_bytes() != (other_seed / relative).read_bytes()


def test_sessions_differ_from_each_other(larger_corpus):
    a, _ = soundfile.read(str(larger_corpus / "recordings_audio" / "train_1.wav"))
    b, _ = soundfile.read(str(larger_corpus / "recordings_audio" / "train_2.wav"))
    assert not np.array_equal(a, b)


# --- arguments and atomicity ------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seconds": -1}, r"'seconds' parameter of synthesize must be > 0\. Got -1 instead"),
    ({"seconds": 6.01}, r"multiple of 0\.04 s .* Got 6\.01 instead"),
    ({"seconds": float("nan")}, r"'seconds' .* finite number\. Got nan instead"),
    ({"train": -2}, r"'train' parameter of synthesize must be an integer >= 0\. Got -2 instead"),
    ({"dev": 1.5}, r"'dev' parameter .* Got 1\.5 instead"),
    ({"train": 0, "dev": 0, "test": 0}, r"at least one session"),
    ({"seed": -1}, r"'seed' parameter of synthesize must be an integer >= 0\. Got -1 instead"),
    ({"workers": 0}, r"'workers' parameter .* Got 0 instead"),
    ({"progress": "bar"}, r"'progress' parameter .* callable .* Got 'bar' instead"),
])
def test_bad_arguments_raise_corpus_error_naming_the_value(tmp_path, kwargs, match):
    with pytest.raises(CorpusError, match=match) as caught:
        synthesize(tmp_path / "x", **kwargs)
    assert isinstance(caught.value, BenchboxError)
    assert not (tmp_path / "x").exists()


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(CorpusError, match="must be a folder"):
        synthesize(path, train=1, dev=0, test=0, seconds=0.4)


def test_interrupted_generation_leaves_no_marker(tmp_path, monkeypatch):
    root = synthesize(tmp_path / "c", train=1, dev=0, test=0, seconds=0.4, workers=1)
    assert (root / SYNTHETIC_MARKER).exists()

    def fail(root, session_id, *, seed, seconds):
        raise OSError("disk full")

    monkeypatch.setattr(generate_module, "generate_session", fail)
    with pytest.raises(OSError, match="disk full"):
        synthesize(root, train=1, dev=0, test=0, seconds=0.4, workers=1)
    assert not (root / SYNTHETIC_MARKER).exists()
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]


# --- gold standard ----------------------------------------------------------------------------------


def reference_gold(ratings: np.ndarray) -> np.ndarray:
    """AVEC 2016 gold standard written out plainly, with CCC from its textbook formula."""
    def ccc(x, y):
        cov = np.mean((x - x.mean()) * (y - y.mean()))
        return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)

    n = ratings.shape[1]
    agreement = [np.mean([ccc(ratings[:, i], ratings[:, j]) for j in range(n) if j != i]) for i in range(n)]
    means = ratings.mean(axis=0)
    level = sum(a * m for a, m in zip(agreement, means, strict=True)) / sum(agreement)
    return np.mean([ratings[:, i] - means[i] + level for i in range(n)], axis=0)


def test_gold_of_equal_raters_is_their_trace():
    trace = np.sin(np.linspace(0, 3, 50)) * 0.4 + 0.1
    np.testing.assert_allclose(avec2016_gold_standard(np.tile(trace[:, None], (1, 6))), trace, atol=1e-12)


def test_gold_matches_a_plain_reference_implementation():
    rng = np.random.default_rng(0)
    base = np.cumsum(rng.normal(0, 0.05, 200))
    ratings = np.stack([base * s + b + rng.normal(0, 0.05, 200) for s, b in
                        [(1.0, 0.0), (0.8, 0.1), (1.2, -0.1), (0.5, 0.3)]], axis=1)
    np.testing.assert_allclose(avec2016_gold_standard(ratings), reference_gold(ratings), atol=1e-12)


def test_gold_level_follows_the_agreeing_raters():
    t = np.linspace(0, 6, 300)
    agreeing = [np.sin(t) * 0.3 + 0.1 + 0.01 * k for k in range(3)]
    outlier = -np.sin(t) * 0.3 + 0.6  # disagrees (negative CCC -> weight 0) and sits higher
    gold = avec2016_gold_standard(np.stack([*agreeing, outlier], axis=1))
    agreeing_means = [r.mean() for r in agreeing]
    plain_mean_level = np.mean([*agreeing_means, outlier.mean()])
    assert min(agreeing_means) <= gold.mean() <= max(agreeing_means) < plain_mean_level - 0.1
    # the shape is still the mean of the centred traces (the outlier's inverted movement cancels part)
    np.testing.assert_allclose(gold - gold.mean(), np.mean([r - r.mean() for r in [*agreeing, outlier]], axis=0),
                               atol=1e-12)


def test_gold_rejects_a_single_rater():
    with pytest.raises(ValueError, match=r"shape \(frames >= 2, raters >= 2\)\. Got \(10, 1\) instead"):
        avec2016_gold_standard(np.zeros((10, 1)))


def test_raters_react_with_a_lag_of_one_to_four_seconds():
    step_s, lead_s, seconds = 0.04, 6.0, 240.0
    latent = draw_latent_emotion(np.random.default_rng(5), seconds=seconds, step_s=step_s, lead_s=lead_s)
    perceived = latent.total("arousal")
    raters = draw_raters(np.random.default_rng(6), np.random.default_rng(7))
    frames = int(seconds / step_s) + 1
    ratings = simulate_ratings(np.random.default_rng(8), perceived, raters, step_s=step_s, lead_s=lead_s,
                               num_frames=frames)
    start = int(lead_s / step_s)
    lags = np.arange(0, int(6 / step_s))
    for column, rater in enumerate(raters):
        rating = np.diff(ratings[:, column])
        scores = [np.corrcoef(rating[lag:], np.diff(perceived[start - lag:start - lag + frames])[lag:])[0, 1]
                  for lag in lags]
        peak_s = lags[int(np.argmax(scores))] * step_s
        assert 1.0 <= peak_s <= 4.0, (column, rater, peak_s)
        assert 1.0 <= rater.lag_s <= 3.5
    pairwise = [ccc_score(ratings[:, i], ratings[:, j]) for i in range(6) for j in range(i + 1, 6)]
    assert 0.2 < np.mean(pairwise) < 0.98  # raters agree, but not perfectly
    assert len(RATER_NAMES) == ratings.shape[1] == 6


# --- the face detector of the face-crop pipeline ----------------------------------------------------


def test_haar_cascade_detects_the_face_in_at_least_90_percent_of_frames(corpus, larger_corpus):
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip(f"OpenCV {cv2.__version__} has no Haar cascades (moved to opencv_contrib in OpenCV 5); "
                    "install opencv-python-headless<5 to run this check")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    videos = [corpus / "recordings_video" / "train_1.mp4"]
    videos += sorted((larger_corpus / "recordings_video").glob("*.mp4"))
    frames = [f for path in videos for f in decoded_frames(path)[::2]]
    assert len(frames) >= 300
    hits = 0
    for frame in frames:
        faces = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.1, 4)
        hits += len(faces) > 0
    assert hits / len(frames) >= 0.9


# --- learnability -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minute_corpus(tmp_path_factory):
    return load_corpus(synthesize(tmp_path_factory.mktemp("synth") / "m", train=2, dev=0, test=0, seconds=60.0,
                                  seed=0, workers=2))


def delayed_r(feature: np.ndarray, gold: np.ndarray, delay_frames: int = 60, window_frames: int = 50) -> float:
    """Pearson r of a 2 s-averaged, per-session z-scored feature with the gold standard 2.4 s later."""
    n = min(len(feature), len(gold)) - delay_frames
    smoothed = uniform_filter1d(feature, window_frames)[:n]
    return float(np.corrcoef((smoothed - smoothed.mean()) / smoothed.std(), gold[delay_frames:delay_frames + n])[0, 1])


def audio_features(samples: np.ndarray, sample_rate_hz: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """Log RMS energy and log autocorrelation pitch per 40 ms frame, carried over silence and unvoiced frames."""
    hop = int(0.04 * sample_rate_hz)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    log_energy = np.log(np.mean(frames**2, axis=1) + 1e-10)
    spectrum = np.fft.rfft(frames * np.hanning(hop), n=2 * hop)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2)[:, :hop]
    low, high = sample_rate_hz // 400, sample_rate_hz // 60
    lag = low + np.argmax(autocorrelation[:, low:high], axis=1)
    periodicity = autocorrelation[np.arange(len(lag)), lag] / (autocorrelation[:, 0] + 1e-12)
    speech = log_energy > np.median(log_energy)
    voiced = speech & (periodicity > 0.5)
    index = np.arange(len(frames))
    energy = np.interp(index, np.flatnonzero(speech), log_energy[speech])
    pitch = np.interp(index, np.flatnonzero(voiced), np.log(sample_rate_hz / lag[voiced]))
    return energy, pitch


def mouth_curvature(frame: np.ndarray, centre_xy, half_width: float, half_height: float) -> float:
    """How far the lip corners sit above the lip centre (pixels): found by lip redness, so head motion is free."""
    cx, cy = centre_xy
    y0, x0 = int(cy + 0.12 * half_height), int(cx - 0.9 * half_width)
    box = frame[y0:int(cy + 0.92 * half_height), x0:int(cx + 0.9 * half_width)].astype(np.float32)
    redness = box[..., 2] - box[..., 1]
    ys, xs = np.nonzero(redness > 0.5 * (np.median(redness) + np.percentile(redness, 99.5)))
    left, right = xs.min(), xs.max()
    width = right - left + 1
    corners = (xs < left + 0.2 * width) | (xs > right - 0.2 * width)
    middle = np.abs(xs - (left + right) / 2) < 0.2 * width
    return float(ys[middle].mean() - ys[corners].mean())


def test_voice_loudness_and_pitch_follow_arousal_but_not_perfectly(minute_corpus):
    energy_r, pitch_r = [], []
    for session in minute_corpus:
        energy, pitch = audio_features(session.load_audio())
        energy_r.append(delayed_r(energy, session.target("arousal")))
        pitch_r.append(delayed_r(pitch, session.target("arousal")))
    assert 0.1 < np.mean(energy_r) and max(np.abs(energy_r)) < 0.95, energy_r
    assert 0.1 < np.mean(pitch_r) and max(np.abs(pitch_r)) < 0.95, pitch_r


def test_mouth_corners_follow_valence_but_not_perfectly(minute_corpus):
    correlations = []
    for session in minute_corpus:
        style = draw_subject(session_generator(0, session.id, "subject"), width_px=320, height_px=240).face
        curvature = np.array([mouth_curvature(frame, style.centre_xy, style.half_width_px, style.half_height_px)
                              for frame in decoded_frames(session.video_path)])
        correlations.append(delayed_r(curvature, session.target("valence")))
    assert 0.1 < np.mean(correlations) and max(np.abs(correlations)) < 0.95, correlations


def _corpus_digest(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_processes_generate_byte_identical_corpora(tmp_path):
    """The generator in two fresh interpreters (other hash seeds, two workers each) writes the same bytes:
    the CI self-gate needs the same corpus on every machine and every run."""
    import os
    import subprocess
    import sys

    digests = []
    for k, hash_seed in enumerate(("1", "2")):
        root = tmp_path / f"corpus-{k}"
        code = (f"from benchbox.corpus.synth import synthesize; "
                f"synthesize({str(root)!r}, train=2, dev=1, test=1, seconds=3.0, workers=2)")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        digests.append(_corpus_digest(root))
    assert len(digests[0]) > 10
    assert digests[0] == digests[1]
