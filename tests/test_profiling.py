"""Parameters found in fitted models of every kind the harness counts, timing of a call, GPU peak off CUDA."""

import numpy as np
import pytest

from benchbox.profiling import gpu_memory_peak, model_size, timed, uses_torch


def _holder(**attributes):
    holder = type("Model", (), {})()
    vars(holder).update(attributes)
    return holder


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    return x, x @ rng.normal(size=5) + rng.normal(scale=0.1, size=60)


def test_linear_models_count_coefficients_and_intercepts_inside_pipelines(data):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVR

    x, y = data
    ridge = make_pipeline(StandardScaler(), Ridge()).fit(x, y)
    model = _holder(by_target=[ridge, LinearSVR(max_iter=10_000).fit(x, y)])
    assert model_size(model) == {"parameters": 12, "parameters_counted": "linear coefficients 12"}


def test_kernel_svr_counts_support_vectors_times_features(data):
    from sklearn.svm import SVR

    x, y = data
    svr = SVR(C=1.0).fit(x, y)
    assert model_size(_holder(svr_=svr)) == {"parameters": svr.support_vectors_.shape[0] * 5,
                                              "parameters_counted": "support vectors x features "
                                                                    f"{svr.support_vectors_.shape[0] * 5}"}


def test_trees_count_nodes_and_pca_counts_components(data):
    import xgboost
    from sklearn.decomposition import PCA

    x, y = data
    booster = xgboost.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(x, y)
    nodes = sum(len(tree.strip().splitlines()) for tree in booster.get_booster().get_dump())
    size = model_size(_holder(pca_={"w": PCA(n_components=2).fit(x)}, trees_=booster))
    assert size["parameters"] == 10 + nodes and 3 <= nodes <= 21
    assert size["parameters_counted"] == f"PCA components 10, tree nodes {nodes}"


def test_torch_parameters_are_counted_once_and_bare_arrays_are_not_parameters():
    import torch

    shared = torch.nn.Linear(3, 2)
    model = _holder(encoder=torch.nn.Sequential(shared, torch.nn.ReLU(), shared), features_=np.ones((100, 3)))
    assert model_size(model) == {"parameters": 8, "parameters_counted": "torch tensors 8"}
    assert uses_torch(model) and not uses_torch(_holder(features_=np.ones(3)))
    assert model_size(_holder(features_=np.ones(3)))["parameters"] is None


def test_timed_reports_wall_and_cpu_time_and_gpu_peak_is_empty_off_cuda():
    result = timed(lambda n: sum(i * i for i in range(n)), 200_000)
    assert result.value == sum(i * i for i in range(200_000))
    assert result.wall_s > 0 and result.cpu_s > 0
    with gpu_memory_peak("cpu") as peak:
        pass
    assert peak == {}
