import shutil

import numpy as np
import pytest
from foreign_corpus import write_arff, write_wav

from benchbox.cli import main
from benchbox.corpus.avec2016 import load_corpus, scan_corpus
from benchbox.corpus.media import load_audio
from benchbox.errors import CorpusError


@pytest.fixture
def corpus_copy(foreign_corpus, tmp_path):
    return shutil.copytree(foreign_corpus, tmp_path / "corpus")


def test_reads_a_corpus_written_by_another_tool(foreign_corpus):
    corpus = load_corpus(foreign_corpus)
    assert [s.id for s in corpus] == ["dev_1", "dev_2", "train_1", "train_2", "train_3"]
    session = corpus.get("train_2")
    assert session.split == "train" and session.num_frames == 101
    assert session.labels.shape == (101, 2) and np.isfinite(session.labels).all()
    assert session.frame_times_s[-1] == pytest.approx(4.0)
    assert not corpus.synthetic
    audio = load_audio(session.audio_path, sample_rate_hz=16_000)  # 44.1 kHz stereo in the file
    assert audio.dtype == np.float32 and len(audio) == 64_000


def test_fingerprint_is_stable_and_content_sensitive(corpus_copy):
    first = scan_corpus(corpus_copy).fingerprint
    assert scan_corpus(corpus_copy).fingerprint == first
    write_wav(corpus_copy / "recordings_audio" / "dev_1.wav", 4.0, seed=99)
    assert scan_corpus(corpus_copy).fingerprint != first


def test_nonexistent_root(tmp_path):
    with pytest.raises(CorpusError, match=r"nowhere does not exist or is not a folder"):
        load_corpus(tmp_path / "nowhere")


def test_session_missing_its_video(corpus_copy):
    (corpus_copy / "recordings_video" / "train_2.mp4").unlink()
    with pytest.raises(CorpusError, match=r"train_2.mp4: session train_2 has no video"):
        load_corpus(corpus_copy)


def test_arff_with_nan_names_file_and_line(corpus_copy):
    values = np.zeros(101)
    values[7] = np.nan
    write_arff(corpus_copy / "ratings_gold_standard" / "valence" / "dev_2.arff", "dev_2", values)
    with pytest.raises(CorpusError, match=r"valence/dev_2.arff, line \d+: GoldStandard is nan"):
        load_corpus(corpus_copy)


def test_labels_out_of_range(corpus_copy):
    values = np.zeros(101)
    values[3] = 1.7
    write_arff(corpus_copy / "ratings_gold_standard" / "arousal" / "dev_1.arff", "dev_1", values)
    with pytest.raises(CorpusError, match=r"arousal/dev_1.arff, line \d+: GoldStandard 1.7 is outside \[-1, 1\]"):
        load_corpus(corpus_copy)


def test_labels_shorter_than_media(corpus_copy):
    for target in ("arousal", "valence"):
        write_arff(corpus_copy / "ratings_gold_standard" / target / "train_1.arff", "train_1", np.zeros(76))
    with pytest.raises(CorpusError, match=r"labels are shorter than the media by 25 frames; at most 5 frames"):
        load_corpus(corpus_copy)


def test_labels_within_tolerance_are_accepted(corpus_copy):
    for target in ("arousal", "valence"):
        write_arff(corpus_copy / "ratings_gold_standard" / target / "train_1.arff", "train_1", np.zeros(98))
    assert load_corpus(corpus_copy).get("train_1").num_frames == 98


def test_corrupt_wav_names_the_file(corpus_copy):
    (corpus_copy / "recordings_audio" / "dev_1.wav").write_bytes(b"RIFF....not a wav")
    with pytest.raises(CorpusError, match=r"dev_1.wav: cannot read audio"):
        load_corpus(corpus_copy)


def test_corrupt_mp4_names_the_file(corpus_copy):
    (corpus_copy / "recordings_video" / "dev_1.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(CorpusError, match=r"dev_1.mp4: cannot open video"):
        load_corpus(corpus_copy)


def test_corpus_without_video_folder_is_audio_only(corpus_copy):
    shutil.rmtree(corpus_copy / "recordings_video")
    corpus = load_corpus(corpus_copy)
    assert all(s.video_path is None for s in corpus)


def test_data_check_prints_manifest_and_fails_on_problems(corpus_copy, capsys):
    assert main(["data", "check", str(corpus_copy)]) == 0
    out = capsys.readouterr().out
    assert "sessions per split: dev 2, train 3" in out
    assert "44100" in out and "problems: none" in out
    assert f"fingerprint (sha256 of the file manifest): {scan_corpus(corpus_copy).fingerprint}" in out
    (corpus_copy / "recordings_video" / "dev_2.mp4").unlink()
    assert main(["data", "check", str(corpus_copy)]) == 1
    assert "session dev_2 has no video" in capsys.readouterr().out


def test_fast_frame_conversion_matches_pyav(tmp_path):
    """RGB frames converted by OpenCV from yuv420p equal PyAV's own conversion up to rounding; grey is luma."""
    import av
    import cv2

    from benchbox.corpus.media import iter_video_frames

    path = tmp_path / "colours.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(5):
            image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 3) + 20 * k
            for packet in stream.encode(av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        reference = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    ours = list(iter_video_frames(path))
    grey = list(iter_video_frames(path, pixel_format="gray"))
    assert len(ours) == len(grey) == len(reference) == 5
    for mine, theirs, luma in zip(ours, reference, grey, strict=True):
        assert mine.shape == theirs.shape == (48, 64, 3) and mine.dtype == np.uint8
        assert np.abs(mine.astype(int) - theirs).max() <= 3
        assert luma.shape == (48, 64)
        assert np.corrcoef(luma.ravel(), cv2.cvtColor(theirs, cv2.COLOR_RGB2GRAY).ravel())[0, 1] > 0.99
