"""The visual branch's ImageNet start through torchvision's weights API: the cached file is used, nothing is
downloaded by a test, and offline without the file a run fails before it starts with the path to put it at."""

import urllib.error
from pathlib import Path

import pytest
import torch

from benchbox.errors import BenchboxError
from e2e.config import PRESETS
from e2e.plugins import E2EAV, E2EVideo
from e2e.weights import IMAGENET, describe_weights, imagenet_cache_file, visual_weights_file

torch.set_num_threads(1)


@pytest.fixture()
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torch cache, and a download that fails the way it fails without internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    calls = []

    def no_network(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return calls


def _save_resnet50(path: Path, seed: int) -> dict[str, torch.Tensor]:
    from torchvision.models import resnet50

    torch.manual_seed(seed)
    state = resnet50(weights=None).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_the_paper_preset_starts_from_imagenet_and_the_cpu_presets_from_random_weights():
    assert PRESETS["paper"].visual_pretrained_weights == IMAGENET
    assert PRESETS["cpu-48px"].visual_pretrained_weights is None
    assert describe_weights(IMAGENET) == "imagenet (torchvision ResNet50_Weights.IMAGENET1K_V1)"


def test_offline_without_the_cached_file_the_run_fails_before_it_starts(offline_torch_home, tmp_path, monkeypatch,
                                                                        foreign_corpus, capsys):
    from benchbox.cli import main

    expected = imagenet_cache_file()
    assert expected == tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    with pytest.raises(BenchboxError) as error:
        visual_weights_file(IMAGENET, "Model 'e2e-video'")
    message = str(error.value)
    assert str(expected) in message and "visual_pretrained_weights" in message and "URLError" in message
    assert offline_torch_home == ["https://download.pytorch.org/models/resnet50-0676ba61.pth"]

    # through the command: the paper preset asks for ImageNet weights; nothing of the run is made
    monkeypatch.setenv("BENCHBOX_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    code = main(["run", "--suite", "avec2016", "--models", "e2e-video", "--no-progress", "--data-root",
                 str(foreign_corpus), "--option", "e2e-video.preset=paper", "--out", str(out)])
    assert code != 0 and not out.exists()
    assert str(expected) in capsys.readouterr().err


def test_a_cached_imagenet_file_is_loaded_without_a_download_and_recorded(offline_torch_home):
    from e2e.model import VisualBranch

    state = _save_resnet50(imagenet_cache_file(), seed=3)
    branch = VisualBranch(IMAGENET)
    assert torch.equal(branch.resnet.conv1.weight, state["conv1.weight"])
    assert offline_torch_home == []  # read from torch's cache, no download attempted
    model = E2EVideo("paper")
    model.prepare("cuda")
    info = model.profile_info()
    assert info["visual_pretrained_weights"] == "imagenet (torchvision ResNet50_Weights.IMAGENET1K_V1)"
    from benchbox.cache import file_sha256

    assert info["visual_pretrained_weights_sha256"] == file_sha256(imagenet_cache_file())


def test_a_local_state_dict_replaces_the_download(offline_torch_home, tmp_path):
    from e2e.model import VisualBranch

    weights = tmp_path / "resnet50-imagenet.pth"
    state = _save_resnet50(weights, seed=5)
    model = E2EAV("paper", visual_pretrained_weights=str(weights))
    model.validate_options()
    model.prepare("cuda")  # a local file: nothing to fetch
    assert torch.equal(VisualBranch(str(weights)).resnet.layer4[0].conv1.weight, state["layer4.0.conv1.weight"])
    assert offline_torch_home == []
    assert model.profile_info()["visual_pretrained_weights"] == str(weights)
    # the CPU preset of a visual model needs no weights, so preparing it fetches nothing even offline
    E2EVideo().prepare("cpu")
    assert offline_torch_home == []
