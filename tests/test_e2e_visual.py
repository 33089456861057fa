"""The visual e2e models: crops on the label grid, held visual features, the device path's configuration,
registration, e2e-av initialised from the unimodal models' stored weights, and the cost figures."""

import logging
import warnings

import numpy as np
import pytest
import torch

from benchbox.cache import Cache
from benchbox.corpus.avec2016 import load_corpus
from benchbox.corpus.session import strip_labels
from benchbox.errors import BenchboxError, MediaError
from benchbox.faces import cached_face_crops
from benchbox.metrics import ccc_score
from benchbox.plugin import ModelContext
from benchbox.registry import model_info, model_names
from benchbox.suites import load_suite
from benchbox.testing import tiny_corpus
from e2e.config import PRESETS, RuntimeSettings, resolve_config, runtime_settings
from e2e.data import FrameIndexed, SessionArrays, label_frame_crops
from e2e.model import EmotionModel, flops_per_media_second, predict_frames
from e2e.plugins import E2EAV, E2EAudio, E2EVideo, UnimodalWeightsMissingWarning

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tiny_corpus(tmp_path_factory.mktemp("e2e-visual") / "corpus", train=3, dev=1, seconds=4.0, seed=5)
    return load_corpus(root)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("e2e-visual-cache"))


def _ctx(tmp_path, cache):
    return ModelContext(targets=("arousal", "valence"), seed=0, device="cpu", cache=cache, scratch_dir=tmp_path,
                        logger=logging.getLogger("test"))


@pytest.fixture(scope="module")
def smoke_unimodal(corpus, cache, tmp_path_factory):
    """The suite's partitions and the smoke e2e-audio and e2e-video, fitted once: their weights land in the
    module's cache, where e2e-av looks them up."""
    parts = load_suite("avec2016").partitions(corpus)
    ctx = _ctx(tmp_path_factory.mktemp("unimodal"), cache)
    audio, video = E2EAudio("smoke"), E2EVideo("smoke")
    for model in (audio, video):
        model.fit(parts.fit, parts.select, ctx)
    return parts, audio, video


# -- crops on the label grid --------------------------------------------------------------------------------
def test_default_crop_loader_puts_one_face_crop_on_every_label_frame(corpus, cache):
    session = corpus.sessions[0]
    crops, _ = cached_face_crops(cache, session.video_path)
    assert len(crops) == session.num_frames - 1  # 25 fps video: one frame fewer than labels (0 .. T s)
    full = label_frame_crops(session, cache)
    assert isinstance(full, FrameIndexed) and full.shape == (session.num_frames, 96, 96, 3)
    np.testing.assert_array_equal(full[:3], crops[:3])
    np.testing.assert_array_equal(full[-1], crops[-1])  # the last label holds the last video frame
    small = label_frame_crops(session, cache, size=24)
    assert small.shape == (session.num_frames, 24, 24, 3) and small.dtype == np.uint8
    assert abs(float(small[5].mean()) - float(crops[5].mean())) < 3  # a downscaled copy of the same crop
    with pytest.raises(MediaError, match="has no video file"):
        import dataclasses

        label_frame_crops(dataclasses.replace(session, video_path=None), cache)


def test_visual_features_are_held_between_encoded_frames():
    torch.manual_seed(0)
    model = EmotionModel(("video",), 2, lstm_hidden=8, visual_stride=3).eval()
    video = torch.rand(1, 7, 3, 32, 32)
    with torch.no_grad():
        held = model.encode(video=video)
        encoded = model.video(video[0, [0, 3, 6]])
    assert held.shape == (1, 7, 2048)
    for frame, source in enumerate([0, 0, 0, 1, 1, 1, 2]):
        torch.testing.assert_close(held[0, frame], encoded[source])
    crops = np.random.default_rng(0).integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    # chunks of the session are cut on multiples of the stride: the same frames are encoded either way
    a = predict_frames(model, {"video": crops}, window_frames=10, encode_batch_frames=7)
    b = predict_frames(model, {"video": crops}, window_frames=10, encode_batch_frames=23)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    full = flops_per_media_second(("video",), 2, audio_variant="released", crop_size=48)
    tenth = flops_per_media_second(("video",), 2, audio_variant="released", crop_size=48, visual_stride=10)
    assert 0.1 < tenth / full < 0.15  # 3 of 25 frames through the ResNet


# -- the device path, as configuration -----------------------------------------------------------------------
def test_runtime_settings_turn_on_the_cuda_path_and_leave_the_cpu_path_alone():
    paper = PRESETS["paper"]
    cuda = runtime_settings(paper, "cuda:1")
    assert cuda == RuntimeSettings("cuda", autocast_bf16=True, channels_last=True, cudnn_benchmark=True,
                                   compile=False, resident_data=True)
    assert runtime_settings(resolve_config("paper", {"compile": True}), "cuda").compile
    assert not runtime_settings(resolve_config("paper", {"resident_data": False}), "cuda").resident_data
    assert not runtime_settings(resolve_config("paper", {"precision": "fp32"}), "cuda").autocast_bf16
    cpu = runtime_settings(resolve_config("paper", {"compile": True}), "cpu")
    assert cpu == RuntimeSettings("cpu", autocast_bf16=False, channels_last=False, cudnn_benchmark=False,
                                  compile=False, resident_data=False)
    native = resolve_config("cpu", {"precision": "bf16-native"})
    assert runtime_settings(native, "cpu", native_bf16=True).autocast_bf16
    assert not runtime_settings(native, "cpu", native_bf16=False).autocast_bf16
    assert runtime_settings(native, "cuda", native_bf16=False).autocast_bf16
    with pytest.raises(BenchboxError, match="Got 'mps' instead"):
        runtime_settings(paper, "mps")
    with pytest.raises(BenchboxError, match="'precision' parameter .* Got 'fp8' instead"):
        resolve_config("paper", {"precision": "fp8"})


def test_resident_batches_and_channels_last_give_the_host_path_results():
    from e2e.trainer import _Batches, prepare_model

    rng = np.random.default_rng(0)
    sessions = [SessionArrays(f"s{i}", {"audio": rng.standard_normal((30, 640)).astype(np.float32),
                                        "video": rng.integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)},
                              rng.standard_normal((30, 2)).astype(np.float32)) for i in range(2)]
    for session in sessions:  # as the memory-mapped cache entries the trainer gets
        for array in (*session.inputs.values(), session.labels):
            array.flags.writeable = False
    host = RuntimeSettings("cpu", False, False, False, False, resident_data=False)
    resident = RuntimeSettings("cpu", False, True, False, False, resident_data=True)
    windows = [(1, 3), (0, 10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on read-only arrays (seen on CUDA runs: resident path)
        (a_inputs, a_labels), (b_inputs, b_labels) = _Batches(sessions, 12, "cpu", host)(windows), \
            _Batches(sessions, 12, "cpu", resident)(windows)
    assert torch.equal(a_labels, b_labels) and a_inputs["video"].shape == (2, 12, 3, 16, 16)
    for modality in ("audio", "video"):
        assert torch.equal(a_inputs[modality], b_inputs[modality])
    torch.manual_seed(0)
    model = EmotionModel(("audio", "video"), 2, audio_variant="released", lstm_hidden=8).eval()
    with torch.no_grad():
        expected = model(**a_inputs)[0]
        network = prepare_model(model, resident)
        assert network is model and model.video.channels_last
        assert model.video.resnet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(model(**a_inputs)[0], expected, rtol=1e-4, atol=1e-5)


# -- registration and the audiovisual model's initialisation --------------------------------------------------
def test_visual_models_are_registered_with_their_protocol():
    assert {"e2e-audio", "e2e-video", "e2e-av"} <= set(model_names())
    assert model_info("e2e-av").requires == ("e2e-audio", "e2e-video")
    assert model_info("e2e-video").modalities == ("video",)
    suite = load_suite("avec2016")
    for name in ("e2e-audio", "e2e-video"):
        assert suite.protocol(name).delays_frames == (60,)
    # e2e-av needs its unimodal models to run first but learns from the media: the suite's protocol
    # (post-processing included) applies to it, unlike late fusion, which combines predictions
    assert not model_info("e2e-av").combines_predictions and model_info("late-fusion").combines_predictions
    av = suite.protocol("e2e-av", combines_predictions=False)
    assert av.delays_frames == (60,) and av.postprocessing
    fusion = suite.protocol("late-fusion", combines_predictions=True)
    assert fusion.delays_frames == (0,) and not fusion.postprocessing


def test_av_model_starts_from_the_unimodal_weights_and_reports_its_cost(smoke_unimodal, cache, tmp_path,
                                                                        monkeypatch):
    import e2e.trainer

    parts, audio, video = smoke_unimodal
    ctx = _ctx(tmp_path, cache)
    captured = {}
    original = e2e.trainer.train_model

    def spy(model, *args, **kwargs):
        captured.update({k: v.clone() for k, v in model.state_dict().items()})
        captured["config"] = args[2]
        return original(model, *args, **kwargs)

    monkeypatch.setattr(e2e.trainer, "train_model", spy)
    # fine-tuning from the unimodal weights uses its own learning rate and epoch budget
    av = E2EAV("smoke", overrides={"learning_rate_initialised": 1e-4, "max_epochs_initialised": 1,
                                   "fusion_init": "better"})
    av.fit(parts.fit, parts.select, ctx)
    config = captured.pop("config")
    assert (config.learning_rate, config.max_epochs) == (1e-4, 1) != (PRESETS["smoke"].learning_rate, None)
    for modality, source in (("audio", audio), ("video", video)):
        stored = source.model_.state_dict()
        keys = [k for k in captured if k.startswith(f"{modality}.")]
        assert keys and all(torch.equal(captured[k], stored[k]) for k in keys), modality
    info = av.profile_info()
    assert info["initialised_from"]["audio"]["model"] == "e2e-audio"
    assert info["initialised_from"]["video"]["weights"] == video.weights_key_[:16]
    # the fusion LSTM and head start as those of the unimodal model with the better select CCC
    best = max((audio, video), key=lambda m: m.result_.best_select_ccc)
    assert info["initialised_from"]["fusion"].startswith(best.name)
    stored = best.model_.state_dict()
    columns = slice(0, 1280) if best is audio else slice(1280, 1280 + 2048)
    assert torch.equal(captured["lstm.weight_ih_l0"][:, columns], stored["lstm.weight_ih_l0"])
    assert captured["lstm.weight_ih_l0"].abs().sum() == stored["lstm.weight_ih_l0"].abs().sum()  # zero elsewhere
    assert torch.equal(captured["head.weight"], stored["head.weight"])
    # so before fine-tuning it predicts what that model predicts (epoch 0 of the early-stopping history)
    assert av.result_.history[0]["epoch"] == 0
    np.testing.assert_allclose(np.mean(av.result_.history[0]["select_ccc"]), best.result_.best_select_ccc, atol=1e-5)
    assert info["epochs"] == 1 and info["fine_tuning"] == {"learning_rate": 1e-4, "max_epochs": 1}

    predictions = av.predict(strip_labels(parts.test), ctx)
    assert predictions[parts.test[0].id].shape == (parts.test[0].num_frames, 2)
    info = av.profile_info()
    assert info["preset"] == "smoke" and info["crop_size_px"] == 16 and info["visual_frames_per_s"] == 2.5
    assert info["parameters"] == sum(p.numel() for p in av.model_.parameters())
    assert info["flops_per_media_second"] > 1e9 and info["training_time_s"] > 0 and info["train_frames_per_s"] > 0
    assert 0 < info["inference_real_time_factor"] < 10
    assert info["peak_memory_fit"]["peak_mb"] > 50 and "RSS" in info["peak_memory_fit"]["measured"]
    assert info["peak_memory_predict"]["peak_mb"] > 50

    # without stored weights (another seed): the branches keep their random weights, and a warning says so
    other = ModelContext(targets=ctx.targets, seed=1, device="cpu", cache=cache, scratch_dir=tmp_path,
                         logger=ctx.logger)
    fresh = EmotionModel(("audio", "video"), 2, **PRESETS["smoke"].model_kwargs(("audio", "video")))
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = E2EAV("smoke")._initialise_branches(fresh, parts.fit, parts.select, other)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnimodalWeightsMissingWarning)]
    assert len(messages) == 2 and "no stored weights of 'e2e-audio'" in messages[0]
    assert record == {"audio": None, "video": None}
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())


def test_side_by_side_fusion_computes_the_late_fusion_of_the_two_networks():
    from e2e.model import side_by_side_fusion

    shape = dict(audio_variant="released", input_dropout=0.0, lstm_layers=2, visual_network="compact")
    torch.manual_seed(0)
    audio = EmotionModel(("audio",), 2, lstm_hidden=8, **shape).eval()
    video = EmotionModel(("video",), 2, lstm_hidden=8, **shape).eval()
    av = EmotionModel(("audio", "video"), 2, lstm_hidden=16, **shape).eval()
    av.audio.load_state_dict(audio.audio.state_dict())
    av.video.load_state_dict(video.video.state_dict())
    weights = np.array([[0.7, 0.4, 0.1], [-0.3, 1.2, -0.2]])
    side_by_side_fusion(av, {"audio": audio.state_dict(), "video": video.state_dict()}, weights)
    sound, faces = torch.randn(2, 12, 640), torch.rand(2, 12, 3, 16, 16)
    with torch.no_grad():
        expected = (audio(audio=sound)[0] * torch.tensor(weights[:, 0], dtype=torch.float32)
                    + video(video=faces)[0] * torch.tensor(weights[:, 1], dtype=torch.float32)
                    + torch.tensor(weights[:, 2], dtype=torch.float32))
        torch.testing.assert_close(av(audio=sound, video=faces)[0], expected, rtol=0, atol=1e-6)
        # each half of the LSTM reads only its own modality: other faces change only the video half's part
        other = av(audio=sound, video=torch.rand(2, 12, 3, 16, 16))[0]
        assert not torch.allclose(other, expected)
    # the cross-modal blocks start at zero (here: the audio half's input gate on the video features)
    assert av.lstm.weight_ih_l0[:8, 1280:].abs().sum() == 0 and av.lstm.weight_ih_l0[:8, :1280].abs().sum() > 0
    narrow = EmotionModel(("audio", "video"), 2, lstm_hidden=8, **shape)
    with pytest.raises(BenchboxError, match="side by side"):
        side_by_side_fusion(narrow, {"audio": audio.state_dict(), "video": video.state_dict()}, weights)


def test_av_model_starts_per_target_as_the_better_network(smoke_unimodal, cache, tmp_path):
    parts, audio, video = smoke_unimodal
    ctx = _ctx(tmp_path, cache)
    assert PRESETS["smoke"].fusion_init == PRESETS["cpu-48px"].fusion_init == "both"
    av = E2EAV("smoke", overrides={"max_epochs_initialised": 1})
    av.fit(parts.fit, parts.select, ctx)
    info = av.profile_info()
    assert info["initialised_from"]["fusion"].startswith("both")
    assert av.model_.lstm.hidden_size == 2 * PRESETS["smoke"].lstm_hidden
    assert info["parameters"] == sum(p.numel() for p in av.model_.parameters())
    # its start (epoch 0 of the early-stopping history) is, per target, the network with the better select CCC
    select = strip_labels(parts.select)
    unimodal = {m.name: m.predict(select, ctx) for m in (audio, video)}
    start_ccc = []
    for k, target in enumerate(ctx.targets):
        y = np.concatenate([s.labels[:, k] for s in parts.select]).astype(np.float64)
        scores = {name: ccc_score(y, np.concatenate([unimodal[name][s.id][:, k] for s in parts.select]))
                  for name in ("e2e-audio", "e2e-video")}
        recorded = info["initialised_from"]["select_global_ccc"][target]  # what the rule ranked
        np.testing.assert_allclose([recorded[name] for name in scores], list(scores.values()), atol=1e-4)
        better = max(recorded, key=recorded.get)
        stored = info["initialised_from"]["fusion_weights"][target]
        assert stored == {"e2e-audio": float(better == "e2e-audio"), "e2e-video": float(better == "e2e-video"),
                          "intercept": 0.0}
        start_ccc.append(recorded[better])
    assert av.result_.history[0]["epoch"] == 0
    np.testing.assert_allclose(av.result_.history[0]["select_ccc"], start_ccc, atol=1e-4)


def test_av_model_predicts_with_the_video_network_on_the_target_select_gives_it(smoke_unimodal, cache, tmp_path,
                                                                                monkeypatch):
    """Where select ranks the video network first on valence (here fixed: the smoke networks' select CCCs are
    all near zero, so their ranking is a coin toss), e2e-av's valence comes from the faces."""
    import e2e.plugins

    parts, audio, _ = smoke_unimodal
    ctx = _ctx(tmp_path, cache)
    real = e2e.plugins.better_branch_weights

    def audio_arousal_video_valence(audio_predictions, video_predictions, labels):
        _, scores = real(audio_predictions, video_predictions, labels)
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), scores

    monkeypatch.setattr(e2e.plugins, "better_branch_weights", audio_arousal_video_valence)
    av = E2EAV("smoke", overrides={"max_epochs_initialised": 1})
    av.fit(parts.fit, parts.select, ctx)
    assert av.profile_info()["initialised_from"]["fusion_weights"]["valence"]["e2e-video"] == 1.0
    # the video branch changes its predictions: not those of e2e-audio, and other faces give other numbers
    test = strip_labels(parts.test)
    predicted = av.predict(test, ctx)[test[0].id]
    assert not np.allclose(predicted, audio.predict(test, ctx)[test[0].id], atol=1e-4)
    inputs = av._inputs(test[0], ctx)
    grey = {**inputs, "video": np.full_like(np.asarray(inputs["video"]), 128)}
    config = av.config_
    without_faces = predict_frames(av.model_, grey, window_frames=config.sequence_frames,
                                   context=config.inference_context, encode_batch_frames=config.encode_batch_frames)
    assert np.abs(without_faces - predicted).max() > 1e-4


def test_crop_loader_output_is_checked(corpus, cache, tmp_path):
    parts = load_suite("avec2016").partitions(corpus)
    model = E2EVideo("smoke", crop_loader=lambda session, cache, size: np.zeros((3, size, size, 3), np.uint8))
    with pytest.raises(BenchboxError, match=r"face crops must have shape \(101, 16, 16, 3\).*Got \(3, 16, 16, 3\)"):
        model.fit(parts.fit, parts.select, _ctx(tmp_path, cache))


def test_throughput_benchmark_reports_frames_per_second_and_utilisation():
    from e2e.benchmark import benchmark_training, main

    result = benchmark_training("e2e-av", "smoke", device="cpu", steps=1, warmup_steps=1, peak_tflops=1.0)
    assert result.train_frames_per_s > 0 and result.runtime["device_type"] == "cpu"
    assert result.forward_flops_per_frame > 1e7 and 0 < result.mfu < 1
    assert result.recola_epoch_s == pytest.approx(9 * 7501 / result.train_frames_per_s, rel=1e-2)
    assert main(["--device", "cpu", "--preset", "smoke", "--model", "e2e-audio", "--steps", "1", "--json"]) == 0
    with pytest.raises(BenchboxError, match="Got 'e2e-face' instead"):
        benchmark_training("e2e-face", "smoke", device="cpu")
