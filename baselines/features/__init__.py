"""Handcrafted features for the baselines, cached by content (see :mod:`benchbox.cache`)."""

from baselines.features.appearance import (
    APPEARANCE_EXTRACTOR,
    APPEARANCE_EXTRACTOR_VERSION,
    NUM_GABOR_FILTERS,
    NUM_LBP_BINS,
    AppearancePCA,
    LbpTopCodes,
    appearance_feature_dim,
    appearance_window_features,
    lbp_codes,
)
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
    "APPEARANCE_EXTRACTOR",
    "APPEARANCE_EXTRACTOR_VERSION",
    "NUM_GABOR_FILTERS",
    "NUM_LBP_BINS",
    "AppearancePCA",
    "LbpTopCodes",
    "appearance_feature_dim",
    "appearance_window_features",
    "lbp_codes",
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
