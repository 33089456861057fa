"""CCC loss, audio framing, window sampling, training (overfit, resume from a checkpoint) and presets."""

import dataclasses

import numpy as np
import pytest
import torch

from benchbox.errors import BenchboxError
from benchbox.metrics import ccc_score
from e2e.config import PRESETS, E2EConfig, default_preset, resolve_config
from e2e.data import SessionArrays, audio_chunks, epoch_windows
from e2e.loss import ccc_loss, ccc_per_target
from e2e.model import EmotionModel, predict_frames
from e2e.trainer import train_model

torch.set_num_threads(1)


# -- loss -------------------------------------------------------------------------------------------------
def test_ccc_loss_is_one_minus_the_benchbox_metric_pooled_over_batch_and_time():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((3, 40, 2))
    pred = 0.5 * target + rng.standard_normal((3, 40, 2)) + 0.3
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
    expected = np.mean([1 - ccc_score(target[..., k].ravel(), pred[..., k].ravel()) for k in range(2)])
    assert ccc_loss(pred_t, target_t).dtype == torch.float64
    assert float(ccc_loss(pred_t, target_t, epsilon=0.0)) == pytest.approx(expected, abs=1e-12)
    assert float(ccc_loss(pred_t, target_t)) == pytest.approx(expected, abs=1e-7)  # default epsilon: negligible
    per_sequence = ccc_loss(pred_t, target_t, pool="sequence", epsilon=0.0)
    expected_seq = np.mean([1 - ccc_score(target[b, :, k], pred[b, :, k]) for b in range(3) for k in range(2)])
    assert float(per_sequence) == pytest.approx(expected_seq, abs=1e-12)


def test_ccc_uses_population_moments():  # the hand-checked vectors of PAPER.md
    x = torch.tensor([1, 2, 3, 4, 5], dtype=torch.float64)[:, None]
    y = torch.tensor([1.1, 1.9, 3.2, 3.8, 5.3], dtype=torch.float64)[:, None]
    assert float(ccc_per_target(y, x, epsilon=0.0)[0]) == pytest.approx(2060 / 2079, abs=1e-12)
    a = torch.tensor([0.0, 0, 0, 1], dtype=torch.float64)[:, None]
    b = torch.tensor([0.0, 1, 0, 1], dtype=torch.float64)[:, None]
    assert float(ccc_per_target(b, a, epsilon=0.0)[0]) == pytest.approx(0.5, abs=1e-12)
    c = torch.tensor([0.0, 1, 2], dtype=torch.float64)[:, None]
    d = torch.tensor([0.0, 1, 1], dtype=torch.float64)[:, None]
    assert float(ccc_per_target(d, c, epsilon=0.0)[0]) == pytest.approx(2 / 3, abs=1e-12)
    with pytest.raises(ValueError, match="Got 'frames' instead"):
        ccc_loss(x, y, pool="frames")


@pytest.mark.parametrize("case", ["random", "constant prediction", "both constant and equal"])
def test_ccc_loss_gradients_are_finite(case):
    target = torch.linspace(-1, 1, 30).reshape(1, 30, 1).repeat(2, 1, 2)
    pred = torch.randn(2, 30, 2, generator=torch.Generator().manual_seed(0))
    if case != "random":
        pred = torch.full((2, 30, 2), 0.25)
    if case == "both constant and equal":
        target = torch.full((2, 30, 2), 0.25)
    pred.requires_grad_(True)
    loss = ccc_loss(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    if case == "constant prediction":
        assert pred.grad.abs().sum() > 0  # a constant prediction still gets a useful gradient


# -- data -------------------------------------------------------------------------------------------------
def test_audio_chunks_pair_each_label_with_the_preceding_40_ms():
    samples = np.arange(1, 640 * 3 + 1, dtype=np.float64)
    chunks = audio_chunks(samples, 5)
    assert chunks.shape == (5, 640) and chunks.dtype == np.float32
    normalised = (samples - samples.mean()) / samples.std()
    np.testing.assert_allclose(chunks[0, -1], normalised[0], rtol=1e-6)  # label at t=0: sample 0 and padding
    assert not chunks[0, :-1].any()
    np.testing.assert_allclose(chunks[1], normalised[1:641], rtol=1e-5)  # (0 ms, 40 ms] = samples 1..640
    np.testing.assert_allclose(chunks[3, :-1], normalised[1921 - 640 : 1920], rtol=1e-5)
    assert not chunks[4].any() and chunks[3, -1] == 0  # past the end of the file: zero (= session mean)
    assert abs(float(chunks.sum())) < 1e-2  # zero mean (the whole file is inside the frames here)


def test_epoch_windows_tile_every_session_and_replay_per_seed_and_epoch():
    lengths = [100, 45, 20, 7]
    plan = epoch_windows(lengths, 20, seed=3, epoch=2)
    assert plan == epoch_windows(lengths, 20, seed=3, epoch=2)
    assert plan != epoch_windows(lengths, 20, seed=3, epoch=3)
    assert sorted(i for i, _ in plan) == [0] * 5 + [1] * 2 + [2]
    for index in range(3):
        starts = sorted(s for i, s in plan if i == index)
        assert all(b - a >= 20 for a, b in zip(starts, starts[1:], strict=False))
        assert starts[0] >= 0 and starts[-1] + 20 <= lengths[index]


def test_session_batches_hold_equal_groups_of_distinct_sessions_and_replay():
    lengths = [200, 200, 120, 40, 5]
    plan = epoch_windows(lengths, 10, seed=1, epoch=4, batch_size=6, batch_sessions=3)
    assert plan == epoch_windows(lengths, 10, seed=1, epoch=4, batch_size=6, batch_sessions=3)
    assert len(plan) % 6 == 0 and len(plan) >= 42  # of 56 windows; the rest cannot fill a batch of 3 sessions
    assert len(set(plan)) == len(plan)
    for first in range(0, len(plan), 6):
        groups = [plan[first + 2 * g : first + 2 * g + 2] for g in range(3)]
        owners = [{i for i, _ in group} for group in groups]
        assert all(len(o) == 1 for o in owners) and len(set.union(*owners)) == 3
    assert 4 not in {i for i, _ in plan}  # shorter than one window
    with pytest.raises(ValueError, match="batch_sessions .4. must divide batch_size .6."):
        epoch_windows(lengths, 10, seed=1, epoch=4, batch_size=6, batch_sessions=4)


def test_session_pooled_ccc_ignores_each_sessions_level_and_scores_within_session_tracking():
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.standard_normal((4, 10, 2)))
    shifted = target + torch.tensor([3.0, -2.0, 0.5, 7.0], dtype=torch.float64)[:, None, None]  # per sequence
    grouped = torch.cat([target[:2] + 3.0, target[2:] - 1.0])  # one level per group of two sequences
    assert torch.allclose(ccc_per_target(grouped, target, pool="session", groups=2), torch.ones(2, dtype=torch.float64))
    assert float(ccc_per_target(grouped, target, pool="batch").min()) < 0.5
    # a level per sequence inside a group is within-session variation: it is scored
    assert float(ccc_per_target(shifted, target, pool="session", groups=2).max()) < 0.5
    centred = [x.reshape(2, -1, 2) - x.reshape(2, -1, 2).mean(1, keepdim=True) for x in (0.5 * target, target)]
    expected = [ccc_score(centred[1][..., k].flatten().numpy(), centred[0][..., k].flatten().numpy())
                for k in range(2)]
    np.testing.assert_allclose(ccc_per_target(0.5 * target, target, pool="session", groups=2).numpy(), expected)
    with pytest.raises(ValueError, match="divides into 3 groups"):
        ccc_loss(target, target, pool="session", groups=3)


# -- training -----------------------------------------------------------------------------------------------
def _toy_sessions(count: int, frames: int, seed: int) -> list[SessionArrays]:
    """Audio whose loudness follows the first target: learnable, tiny."""
    rng = np.random.default_rng(seed)
    sessions = []
    for index in range(count):
        level = np.sin(np.linspace(0, 3, frames) + index)
        audio = (rng.standard_normal((frames, 640)) * (1.2 + level[:, None])).astype(np.float32)
        labels = np.stack([0.3 * level, 0.1 * np.cos(np.linspace(0, 2, frames))], axis=1).astype(np.float32)
        sessions.append(SessionArrays(f"s{index}", {"audio": audio}, labels))
    return sessions


TINY = E2EConfig(audio_variant="released", input_dropout=0.2, lstm_hidden=8, lstm_layers=1, learning_rate=1e-2,
                 batch_size=2, sequence_frames=20, max_epochs=3, patience_evals=5, encode_batch_frames=64)


def test_model_overfits_one_small_batch():
    torch.manual_seed(0)
    model = EmotionModel(("audio",), 2, audio_variant="released", input_dropout=0.0, lstm_hidden=16, lstm_layers=1)
    data = _toy_sessions(2, 10, seed=0)
    audio = torch.from_numpy(np.stack([s.inputs["audio"] for s in data]))
    labels = torch.from_numpy(np.stack([s.labels for s in data]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(100):
        loss = ccc_loss(model(audio=audio)[0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 0.5 and losses[-1] < 0.06


def test_train_step_mixes_the_batch_only_with_augmentation_on_and_a_positive_alpha(monkeypatch):
    import e2e.trainer as trainer
    from e2e.config import runtime_settings

    calls = []
    real = trainer.mix_sequences

    def spy(inputs, labels, alpha):
        calls.append((sorted(inputs), tuple(labels.shape), alpha))
        return real(inputs, labels, alpha)

    monkeypatch.setattr(trainer, "mix_sequences", spy)
    config = dataclasses.replace(TINY, mixup_alpha=0.4)
    torch.manual_seed(0)
    model = EmotionModel(("audio",), 2, **config.model_kwargs())
    data = _toy_sessions(4, 20, seed=0)
    audio = torch.from_numpy(np.stack([s.inputs["audio"] for s in data]))
    labels = torch.from_numpy(np.stack([s.labels for s in data]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    runtime = runtime_settings(config, "cpu")
    for step_config, augment in ((config, False), (config, True), (dataclasses.replace(config, mixup_alpha=0.0), True)):
        loss = trainer.train_step(model, optimizer, {"audio": audio}, labels, step_config, runtime,
                                  augment=augment)
        assert torch.isfinite(loss)
    assert calls == [(["audio"], (4, 20, 2), 0.4)]


class _Interrupt(Exception):
    pass


def _run(tmp_path, checkpoint, interrupt_at=None, config=TINY):
    train, select = _toy_sessions(2, 60, seed=1), _toy_sessions(1, 45, seed=2)

    def on_step(step):
        if step == interrupt_at:
            raise _Interrupt

    torch.manual_seed(7)
    model = EmotionModel(("audio",), 2, **config.model_kwargs())
    result = train_model(model, train, select, config, seed=7, checkpoint_path=checkpoint, on_step=on_step)
    prediction = predict_frames(model, dict(select[0].inputs), window_frames=config.sequence_frames)
    return model, result, prediction


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_identically(tmp_path):
    reference, ref_result, ref_prediction = _run(tmp_path, tmp_path / "uninterrupted.pt")
    assert ref_result.epochs == 3 and ref_result.steps == 9 and len(ref_result.history) == 3
    checkpoint = tmp_path / "killed.pt"
    with pytest.raises(_Interrupt):
        _run(tmp_path, checkpoint, interrupt_at=5)  # in the middle of epoch 2; epoch 1 is checkpointed
    assert checkpoint.exists()
    resumed, result, prediction = _run(tmp_path, checkpoint)
    assert result.resumed_from_epoch == 1
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(prediction, ref_prediction)
    assert result.history == ref_result.history and result.best_epoch == ref_result.best_epoch
    # a finished checkpoint only restores the best state
    again, again_result, _ = _run(tmp_path, checkpoint)
    assert again_result.steps == 9 and torch.equal(again.head.weight, reference.head.weight)
    # a checkpoint of another configuration is not resumed
    _, other, _ = _run(tmp_path, checkpoint, config=dataclasses.replace(TINY, max_epochs=1))
    assert other.resumed_from_epoch is None and other.steps == 3


def test_session_loss_training_centres_the_output_on_the_training_sessions(tmp_path):
    """With the within-session loss the network's mean prediction over its training sessions is the training
    labels' mean (the loss does not teach a level); select plays no part in that shift."""
    train, select = _toy_sessions(4, 60, seed=1), _toy_sessions(2, 60, seed=2)
    for k, session in enumerate(train):  # levels that the within-session loss cannot see
        session.labels[:] += 0.5 * k
    config = dataclasses.replace(TINY, loss_pool="session", batch_sessions=2, batch_size=4, max_epochs=2)
    torch.manual_seed(0)
    model = EmotionModel(("audio",), 2, **config.model_kwargs())
    checkpoint = tmp_path / "session.pt"
    result = train_model(model, train, select, config, seed=0, checkpoint_path=checkpoint)
    predictions = [predict_frames(model, dict(s.inputs), window_frames=config.sequence_frames) for s in train]
    level = np.concatenate([s.labels for s in train]).mean(axis=0)
    np.testing.assert_allclose(np.concatenate(predictions).mean(axis=0), level, atol=1e-5)
    assert result.level_shift is not None and len(result.level_shift) == 2
    # the finished checkpoint holds the weights before the shift; resuming from it applies the shift once
    torch.manual_seed(0)
    again = EmotionModel(("audio",), 2, **config.model_kwargs())
    train_model(again, train, select, config, seed=0, checkpoint_path=checkpoint)
    assert torch.equal(again.head.bias, model.head.bias)
    with pytest.raises(BenchboxError, match="needs 2 training sessions of at least 40 frames .* 1 of the 4"):
        train_model(again, [train[0]] + [dataclasses.replace(s, labels=s.labels[:30], inputs={
            "audio": s.inputs["audio"][:30]}) for s in train[1:]], select, config, seed=0)


# -- presets -------------------------------------------------------------------------------------------------
def test_presets_resolve_with_clear_errors():
    assert PRESETS["paper"].audio_variant == "paper" and PRESETS["paper"].learning_rate == 1e-4
    assert PRESETS["paper"].lstm_hidden == 256 and PRESETS["paper"].sequence_frames == 150
    assert default_preset("cpu") == "cpu" and default_preset("cuda:0") == "paper"
    assert resolve_config("cpu", {"max_epochs": 1}).max_epochs == 1
    with pytest.raises(BenchboxError, match="Unknown e2e preset 'papr'. Did you mean 'paper'"):
        resolve_config("papr")
    with pytest.raises(BenchboxError, match="unknown option 'learning_rte'.*Did you mean 'learning_rate'"):
        resolve_config("cpu", {"learning_rte": 1})
    with pytest.raises(BenchboxError, match="'audio_variant' parameter .* Got 'big' instead"):
        resolve_config("cpu", {"audio_variant": "big"})
    with pytest.raises(BenchboxError, match=r"'crop_colour' parameter .* one of \['rgb', 'grey'\]. Got 'gray'"):
        resolve_config("cpu-video", {"crop_colour": "gray"})
    with pytest.raises(BenchboxError, match="'crop_standardise' parameter .* true or false. Got 'yes' instead"):
        resolve_config("cpu-video", {"crop_standardise": "yes"})
    for bad in (-0.1, float("nan"), "0.4", True):
        with pytest.raises(BenchboxError, match=r"'mixup_alpha' parameter .* number >= 0 \(0: no mixup\)"):
            resolve_config("cpu-video", {"mixup_alpha": bad})
    for bad in ({"batch_sessions": 3}, {"batch_sessions": -1}, {"batch_sessions": True}):
        with pytest.raises(BenchboxError, match="'batch_sessions' parameter .* divides batch_size .32."):
            resolve_config("cpu-video", bad)
    for bad in ({"batch_sessions": 0}, {"mixup_alpha": 0.4}):
        with pytest.raises(BenchboxError, match="loss_pool = 'session' .* needs batch_sessions >= 1"):
            resolve_config("cpu-video", bad)
    assert PRESETS["cpu-video"].loss_pool == "session" and PRESETS["cpu-48px"].loss_pool == "batch"
    assert PRESETS["cpu-video"].augments_video and not PRESETS["cpu-video"].video_augment
    assert PRESETS["cpu-video"].video_flip and not PRESETS["paper"].video_flip and PRESETS["paper"].augments_video
    assert not resolve_config("cpu-video", {"video_flip": False}).augments_video
    # e2e-av (cpu-48px) reads e2e-video's (cpu-video) stored visual branch: the trunk and its input must match
    video, av = PRESETS["cpu-video"], PRESETS["cpu-48px"]
    for field in ("visual_network", "crop_colour", "crop_standardise", "crop_size", "crop_normalisation",
                  "visual_stride", "lstm_hidden", "lstm_layers", "audio_variant"):
        assert getattr(video, field) == getattr(av, field), field
