"""Starting weights of the visual branch's ResNet-50: none, torchvision's ImageNet weights, or a local file.

``visual_pretrained_weights`` (a field of :class:`e2e.config.E2EConfig`, an option of the e2e plugins) is

- ``None`` or ``"none"``: random initialisation (the CPU presets);
- ``"imagenet"``: torchvision's ``ResNet50_Weights.IMAGENET1K_V1`` (the ImageNet-trained ResNet-50 of the
  paper's era; the ``paper`` preset's default), fetched the standard way: torchvision's weights API, which
  downloads the file once into torch's cache (``$TORCH_HOME/hub/checkpoints``, by default
  ``~/.cache/torch/hub/checkpoints``) and reads it from there afterwards;
- any other text: the path of a local torchvision ``resnet50`` state dict (e.g. the same file copied onto
  a machine without internet).

:func:`visual_weights_file` turns the option into the file the trunk is loaded from, fetching the ImageNet
file if it is not cached. Offline and not cached, it raises a :class:`benchbox.errors.BenchboxError` that
names the file torchvision looks for and how to give a local state dict instead; the harness calls it
through the plugins' ``prepare`` before a run starts, so that a run fails at once, not in a unit.

This module imports torch and torchvision only when the ImageNet weights are asked for.
"""

from __future__ import annotations

from pathlib import Path

from benchbox.errors import BenchboxError

__all__ = ["IMAGENET", "IMAGENET_WEIGHTS", "NO_WEIGHTS", "describe_weights", "imagenet_cache_file",
           "is_imagenet", "is_random_init", "visual_weights_file"]

#: The option value for torchvision's ImageNet ResNet-50.
IMAGENET = "imagenet"
#: The torchvision weights enum member that :data:`IMAGENET` stands for (``ResNet50_Weights`` member).
IMAGENET_WEIGHTS = "IMAGENET1K_V1"
#: The option value for a random initialisation (``None`` means the same; TOML has no null).
NO_WEIGHTS = "none"


def is_random_init(spec: str | Path | None) -> bool:
    """Whether ``spec`` asks for a randomly initialised trunk.

    Example:
        >>> is_random_init(None), is_random_init("none"), is_random_init("imagenet")
        (True, True, False)
    """
    return spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", NO_WEIGHTS))


def is_imagenet(spec: str | Path | None) -> bool:
    """Whether ``spec`` asks for torchvision's ImageNet weights.

    Example:
        >>> is_imagenet("ImageNet"), is_imagenet("/data/resnet50.pth")
        (True, False)
    """
    return isinstance(spec, str) and spec.strip().lower() == IMAGENET


def _imagenet_weights():
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights[IMAGENET_WEIGHTS]


def imagenet_cache_file() -> Path:
    """Where torchvision keeps the ImageNet ResNet-50 once downloaded (``torch.hub.get_dir()/checkpoints``
    plus the file name of the weights' URL; ``$TORCH_HOME`` moves it)."""
    from urllib.parse import urlparse

    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(_imagenet_weights().url).path).name


def visual_weights_file(spec: str | Path | None, owner: str = "e2e", *, download: bool = True) -> Path | None:
    """The state-dict file that ``spec`` (a ``visual_pretrained_weights`` value) starts the ResNet-50 from;
    ``None`` for a random initialisation.

    ``"imagenet"``: torchvision's cached file, downloaded through its weights API first if absent and
    ``download`` is true. Raises BenchboxError naming ``owner`` and the option when a local file does not
    exist, or when the ImageNet weights are neither cached nor downloadable (offline).
    """
    if is_random_init(spec):
        return None
    if is_imagenet(spec):
        cached = imagenet_cache_file()
        if cached.is_file():
            return cached
        if download:
            weights = _imagenet_weights()
            try:  # torchvision's own API: downloads into torch's cache, checks the hash in the file name
                weights.get_state_dict(progress=False, check_hash=True)
            except Exception as exc:  # URLError offline, HTTPError, a hash mismatch: all say the same to a user
                raise BenchboxError(_imagenet_missing(owner, cached, f"the download failed ({type(exc).__name__}: "
                                                                     f"{exc})")) from exc
            if cached.is_file():
                return cached
        raise BenchboxError(_imagenet_missing(owner, cached, "it is not in torch's cache"))
    path = Path(spec)
    if not path.is_file():
        raise BenchboxError(f"{owner}: the ResNet-50 weights file {path} (option 'visual_pretrained_weights') does "
                            f"not exist. Give a local torchvision resnet50 state dict, '{IMAGENET}' (torchvision's "
                            f"ImageNet weights) or '{NO_WEIGHTS}' (random initialisation).")
    return path


def describe_weights(spec: str | Path | None) -> str:
    """What the run record says about the starting weights.

    Example:
        >>> describe_weights(None)
        'none (random initialisation)'
        >>> describe_weights("imagenet")
        'imagenet (torchvision ResNet50_Weights.IMAGENET1K_V1)'
    """
    if is_random_init(spec):
        return "none (random initialisation)"
    if is_imagenet(spec):
        return f"{IMAGENET} (torchvision ResNet50_Weights.{IMAGENET_WEIGHTS})"
    return str(spec)


def _imagenet_missing(owner: str, cached: Path, why: str) -> str:
    return (f"{owner}: visual_pretrained_weights = '{IMAGENET}' needs torchvision's ResNet50_Weights."
            f"{IMAGENET_WEIGHTS}, and {why}. torchvision looks for the file {cached} (set $TORCH_HOME to move "
            f"torch's cache). On a machine without internet, copy that file there from a machine that has it, or "
            f"give a local torchvision resnet50 state dict instead (visual_pretrained_weights = '/path/to/"
            f"resnet50.pth', e.g. --option e2e-video.visual_pretrained_weights=/path/to/resnet50.pth), or "
            f"start from random weights (visual_pretrained_weights = '{NO_WEIGHTS}').")
