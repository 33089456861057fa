"""The end-to-end network: branch shapes, pooling across channels, dropout, inference over whole sessions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchbox.errors import BenchboxError
from e2e.model import (
    AudioBranch,
    EmotionModel,
    VisualBranch,
    channel_max_pool,
    flip_crops,
    flops_per_media_second,
    mix_sequences,
    parameter_count,
    predict_frames,
    same_conv1d,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_audio_branch_gives_1280_features_per_frame(variant):
    torch.manual_seed(0)
    branch = AudioBranch(variant).eval()
    out = branch(torch.randn(2, 3, 640))
    assert out.shape == (2, 3, 1280)
    assert torch.isfinite(out).all()
    assert branch.conv2.weight.shape[-1] == {"paper": 4000, "released": 40}[variant]
    assert branch.conv1.weight.shape[-1] == {"paper": 80, "released": 20}[variant]


@pytest.mark.parametrize("length,kernel", [(320, 4000), (320, 40), (10, 3), (10, 4), (5, 40), (7, 13), (6, 1)])
def test_same_conv1d_equals_same_padding_even_when_the_kernel_is_longer_than_the_input(length, kernel):
    generator = torch.Generator().manual_seed(length * 7 + kernel)
    x = torch.randn(2, 3, length, dtype=torch.float64, generator=generator)
    weight = torch.randn(4, 3, kernel, dtype=torch.float64, generator=generator)
    bias = torch.randn(4, dtype=torch.float64, generator=generator)
    expected = F.conv1d(F.pad(x, ((kernel - 1) // 2, kernel // 2)), weight, bias)  # PyTorch / TF "same"
    torch.testing.assert_close(same_conv1d(x, weight, bias), expected, rtol=1e-12, atol=1e-12)


def test_second_pooling_is_across_channels_not_time():
    channels, length = 40, 320
    # value = 1000 * channel + time: a max over channels keeps the time index, a max over time would not
    h = (1000.0 * torch.arange(channels)[:, None] + torch.arange(length)[None, :])[None]
    out = channel_max_pool(h, 10)
    assert out.shape == (1, 1280)
    expected = torch.tensor([[1000.0 * (10 * g + 9) + t for g in range(4)] for t in range(length)]).reshape(1, -1)
    torch.testing.assert_close(out, expected)


def test_audio_features_keep_the_time_axis_of_the_chunk():
    """A change confined to the end of the chunk only changes features of late time steps (no time pooling)."""
    torch.manual_seed(0)
    branch = AudioBranch("released", input_dropout=0.0).eval()
    chunk = torch.randn(1, 1, 640)
    changed = chunk.clone()
    changed[..., -20:] += 5.0
    delta = (branch(changed) - branch(chunk)).abs().view(320, 4).sum(dim=1)
    assert delta[:250].max() == 0 and delta[-10:].max() > 0


def test_dropout_is_active_in_train_mode_only():
    torch.manual_seed(0)
    model = EmotionModel(("audio",), 2, audio_variant="released", input_dropout=0.5, lstm_hidden=8)
    audio = torch.randn(1, 4, 640)
    model.eval()
    torch.testing.assert_close(model(audio=audio)[0], model(audio=audio)[0], rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(audio=audio)[0], model(audio=audio)[0])


def test_visual_branch_gives_2048_features_and_normalises_inside():
    torch.manual_seed(0)
    branch = VisualBranch().eval()
    crops = torch.rand(2, 3, 32, 32)
    assert branch(crops).shape == (2, 2048)
    torch.testing.assert_close(branch.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))


def test_grey_standardised_crops_ignore_colour_and_exposure():
    torch.manual_seed(0)
    branch = VisualBranch(network="compact", colour="grey", standardise=True).eval()
    crops = torch.rand(4, 3, 24, 24)
    luma = (crops * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    grey = luma.expand(-1, 3, -1, -1)  # the same luma without colour
    seen = branch.normalise(crops)
    torch.testing.assert_close(seen.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(seen.std(dim=(1, 2, 3)), torch.ones(4), atol=1e-2, rtol=0)
    assert torch.equal(seen[:, 0], seen[:, 2])
    with torch.no_grad():
        features = branch(crops)
        torch.testing.assert_close(branch(grey), features, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(branch(0.6 * crops + 0.1), features, atol=2e-3, rtol=2e-2)  # exposure
        rgb = VisualBranch(network="compact").eval()
        assert not torch.allclose(rgb(grey), rgb(crops), atol=1e-3)  # the paper's input keeps colour
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert torch.isfinite(branch.normalise(flat)).all() and float(branch.normalise(flat).abs().max()) == 0.0
    with pytest.raises(BenchboxError, match=r"'colour' parameter of VisualBranch must be one of \['rgb', 'grey'\]"):
        VisualBranch(network="compact", colour="gray")


def test_visual_branch_loads_a_local_state_dict_and_names_bad_files(tmp_path):
    torch.manual_seed(0)
    source = VisualBranch()
    state = dict(source.resnet.state_dict(), **{"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})
    path = tmp_path / "resnet50.pt"
    torch.save(state, path)
    torch.manual_seed(1)
    loaded = VisualBranch(path)
    for (name, a), (_, b) in zip(source.resnet.state_dict().items(), loaded.resnet.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(BenchboxError, match=r"missing.txt \(option 'visual_pretrained_weights'\) does not exist"):
        VisualBranch(tmp_path / "missing.txt")
    torch.save({"conv1.weight": state["conv1.weight"]}, tmp_path / "partial.pt")
    with pytest.raises(BenchboxError, match="partial.pt is not a torchvision resnet50 state dict: missing bn1"):
        VisualBranch(tmp_path / "partial.pt")


def test_audiovisual_model_concatenates_both_branches():
    torch.manual_seed(0)
    model = EmotionModel(("video", "audio"), 2, audio_variant="released", lstm_hidden=8).eval()
    assert model.modalities == ("audio", "video") and model.lstm.input_size == 1280 + 2048
    prediction, state = model(audio=torch.randn(1, 2, 640), video=torch.rand(1, 2, 3, 32, 32))
    assert prediction.shape == (1, 2, 2) and state[0].shape == (2, 1, 8)
    with pytest.raises(BenchboxError, match=r"Got \['face'\] instead"):
        EmotionModel(("face",), 2)


@pytest.mark.parametrize("num_frames", [1, 7, 49, 50, 51, 133])
def test_predict_frames_covers_sessions_of_any_length(num_frames):
    torch.manual_seed(0)
    model = EmotionModel(("audio",), 2, audio_variant="released", lstm_hidden=8)
    audio = np.random.default_rng(num_frames).standard_normal((num_frames, 640)).astype(np.float32)
    overlap = predict_frames(model, {"audio": audio}, window_frames=20, encode_batch_frames=16)
    carry = predict_frames(model, {"audio": audio}, window_frames=20, context="carry", encode_batch_frames=16)
    assert overlap.shape == carry.shape == (num_frames, 2) and np.isfinite(overlap).all()
    assert not model.training
    with torch.no_grad():
        whole = model(audio=torch.from_numpy(audio)[None])[0][0].double().numpy()
    np.testing.assert_allclose(carry, whole, rtol=1e-5, atol=1e-6)  # carried state == one pass
    # overlap: each frame from the earliest window (hop 10, last window flush with the end) that holds it
    window, hop = min(20, num_frames), 10
    starts = list(range(0, num_frames - window + 1, hop))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    with torch.no_grad():
        by_start = {s: model(audio=torch.from_numpy(audio[s : s + window])[None])[0][0].double().numpy()
                    for s in starts}
    expected = np.empty_like(overlap)
    for t in range(num_frames):
        first = min(s for s in starts if s + window > t)
        expected[t] = by_start[first][t - first]
    np.testing.assert_allclose(overlap, expected, rtol=1e-5, atol=1e-6)


def test_cost_figures_match_the_arithmetic():
    per_frame_macs = 640 * 40 * 20 + 320 * 40 * 40 * 40 + 4 * 256 * (1280 + 256) + 4 * 256 * 512 + 256 * 2
    assert flops_per_media_second(("audio",), 2, audio_variant="released") == 2 * 25 * per_frame_macs
    paper = flops_per_media_second(("audio",), 2, audio_variant="paper")
    paper_macs = 640 * 40 * 80 + 320 * 40 * 40 * 639 + 4 * 256 * (1280 + 256) + 4 * 256 * 512 + 256 * 2
    assert paper == 2 * 25 * paper_macs  # only the 639 taps of 4,000 that can touch a 320-sample chunk
    lstm_head = 4 * (1280 * 256 + 256 * 256 + 2 * 256) + 4 * (256 * 256 + 256 * 256 + 2 * 256) + 256 * 2 + 2
    assert parameter_count(("audio",), 2, audio_variant="released") == 20 * 40 + 40 + 40 * 40 * 40 + 40 + lstm_head
    assert parameter_count(("audio",), 2, audio_variant="paper") == 80 * 40 + 40 + 40 * 40 * 4000 + 40 + lstm_head


def test_crop_augmentation_keeps_shape_and_range_and_follows_the_seed():
    from e2e.model import augment_crops

    crops = torch.rand(2, 3, 3, 16, 16)
    torch.manual_seed(0)
    first = augment_crops(crops)
    torch.manual_seed(0)
    assert torch.equal(first, augment_crops(crops))
    assert first.shape == crops.shape and first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, crops)


def test_flips_mirror_about_half_the_crops_and_follow_the_seed():
    crops = torch.rand(200, 3, 8, 8)
    torch.manual_seed(0)
    flipped = flip_crops(crops)
    torch.manual_seed(0)
    assert torch.equal(flip_crops(crops), flipped)
    mirrored = [bool(torch.equal(out, crop.flip(-1))) for out, crop in zip(flipped, crops, strict=True)]
    kept = [bool(torch.equal(out, crop)) for out, crop in zip(flipped, crops, strict=True)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True)) and 70 < sum(mirrored) < 130
    assert flip_crops(torch.rand(2, 5, 3, 8, 8)).shape == (2, 5, 3, 8, 8)  # (batch, time, ...) as trained
    assert torch.equal(flip_crops(crops, probability=0.0), crops)


def test_mixup_blends_inputs_and_labels_of_two_sequences_with_one_weight():
    batch, time = 64, 3
    level = torch.rand(batch)
    inputs = {"video": (200 * level).round().to(torch.uint8).view(batch, 1, 1, 1, 1).expand(batch, time, 3, 4, 4),
              "audio": level.view(batch, 1, 1).expand(batch, time, 8)}
    labels = torch.stack([level, 1 - level], dim=1).view(batch, 1, 2).expand(batch, time, 2)
    torch.manual_seed(0)
    mixed, mixed_labels = mix_sequences(inputs, labels, 0.4)
    torch.manual_seed(0)
    again, _ = mix_sequences(inputs, labels, 0.4)
    assert torch.equal(again["video"], mixed["video"])
    assert mixed["video"].dtype == torch.uint8 and mixed["video"].shape == inputs["video"].shape
    assert mixed_labels.shape == labels.shape and mixed["audio"].shape == inputs["audio"].shape
    # every modality and both targets are blended with the same weight, and the sequence keeps >= half of itself
    torch.testing.assert_close(mixed["audio"][:, 0, 0], mixed_labels[:, 0, 0])
    torch.testing.assert_close(mixed_labels[:, 0, 1], 1 - mixed_labels[:, 0, 0])
    assert (mixed["video"][:, 0, 0, 0, 0].float() / 200 - mixed_labels[:, 0, 0]).abs().max() < 0.01
    own = (mixed_labels[:, 0, 0] - level).abs()
    assert (own <= (level.max() - level.min()) / 2 + 1e-6).all() and (own > 1e-3).sum() > batch // 2


def test_crop_augmentation_without_colour_only_moves_the_crop():
    """``colour=False`` keeps the paper's resize and random crop and leaves grey levels alone: a uniform crop
    stays the same grey, where the colour distortion shifts and scales it."""
    from e2e.model import augment_crops

    flat = torch.full((4, 3, 16, 16), 0.3)
    torch.manual_seed(1)
    torch.testing.assert_close(augment_crops(flat, colour=False), flat)
    torch.manual_seed(1)
    assert not torch.allclose(augment_crops(flat), flat)
    ramp = torch.linspace(0, 1, 16).expand(2, 3, 16, 16).contiguous()  # a horizontal gradient moves with the crop
    torch.manual_seed(2)
    moved = augment_crops(ramp, colour=False)
    assert moved.shape == ramp.shape and not torch.equal(moved, ramp)
