import av
import numpy as np
import pytest

from benchbox.cache import Cache
from benchbox.corpus.media import iter_video_frames
from benchbox.corpus.synth import synthesize
from benchbox.errors import MediaError
from benchbox.faces import DETECTED, FALLBACK, INTERPOLATED, NoFaceWarning, cached_face_crops, track_faces


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory):
    root = synthesize(tmp_path_factory.mktemp("faces") / "corpus", train=1, dev=0, test=0, seconds=8.0, seed=2,
                      workers=1)
    return root / "recordings_video" / "train_1.mp4"


def _rewrite(source, target, blank):
    frames = list(iter_video_frames(source))
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(frames):
            if blank(index):
                frame = np.full_like(frame, 90)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def test_synthetic_faces_are_detected_and_cropped_once(synthetic_video, tmp_path, monkeypatch):
    track = track_faces(synthetic_video)
    sampled = track.flags[::5]
    assert np.mean(sampled == DETECTED) >= 0.9
    cache = Cache(tmp_path / "cache")
    crops, flags = cached_face_crops(cache, synthetic_video)
    assert crops.shape == (200, 96, 96, 3) and crops.dtype == np.uint8
    assert isinstance(crops, np.memmap) or crops.base is not None  # memory-mapped from the cache
    assert flags.tolist() == track.flags.tolist()
    # the face (skin) fills the middle of the crop, not the background
    centre = crops[:, 30:66, 30:66].astype(float)
    assert centre.std() > 5

    import benchbox.faces as faces

    monkeypatch.setattr(faces, "track_faces", lambda *a, **k: pytest.fail("recomputed instead of cached"))
    again, _ = cached_face_crops(cache, synthetic_video)
    np.testing.assert_array_equal(again, crops)


def test_stretch_without_face_is_interpolated_and_flagged(synthetic_video, tmp_path):
    video = _rewrite(synthetic_video, tmp_path / "gap.mp4", blank=lambda i: 60 <= i < 140)
    with pytest.warns(NoFaceWarning, match="gap.mp4: no face found in"):
        track = track_faces(video)
    assert (track.flags[60:140] == INTERPOLATED).all()
    assert (track.flags[:60:5] == DETECTED).mean() > 0.8
    # the box inside the gap lies between the boxes around it
    assert track.boxes[100, 2] == pytest.approx((track.boxes[55, 2] + track.boxes[145, 2]) / 2, rel=0.2)


def test_video_without_any_face_falls_back_to_the_centre(foreign_corpus, tmp_path):
    video = foreign_corpus / "recordings_video" / "dev_1.mp4"
    with pytest.warns(NoFaceWarning, match="dev_1.mp4: no face found in 100 frames"):
        crops, flags = cached_face_crops(Cache(tmp_path), video)
    assert crops.shape == (100, 96, 96, 3) and (flags == FALLBACK).all()


def test_corrupt_video_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom" + b"\x00" * 200)
    with pytest.raises(MediaError, match="broken.mp4"):
        track_faces(bad)
