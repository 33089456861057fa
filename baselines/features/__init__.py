"""Handcrafted features for the baselines, cached by content (see :mod:`benchbox.cache`)."""

from baselines.features.egemaps import (
    EGEMAPS_EXTRACTOR,
    EGEMAPS_EXTRACTOR_VERSION,
    EGEMAPS_SAMPLE_RATE_HZ,
    NUM_EGEMAPS_FEATURES,
    NonFiniteFeatureWarning,
    cached_egemaps_window_features,
    egemaps_feature_names,
    egemaps_window_features,
    label_frame_window_indices,
)

__all__ = [
    "EGEMAPS_EXTRACTOR",
    "EGEMAPS_EXTRACTOR_VERSION",
    "EGEMAPS_SAMPLE_RATE_HZ",
    "NUM_EGEMAPS_FEATURES",
    "NonFiniteFeatureWarning",
    "cached_egemaps_window_features",
    "egemaps_feature_names",
    "egemaps_window_features",
    "label_frame_window_indices",
]
