"""Scaling out and tracking: the Ray executor (a local instance of 2 workers) gives the same models as the
local one, survives a failing cell and resumes; MLflow gets one run per benchmark with nested runs per
model, against a local store and against a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tumorbench.classes import PROB_COLUMNS
from tumorbench.config import make_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grid_data(tmp_path_factory) -> Path:
    from tests.conftest import make_dataset

    counts = {"Training": {"glioma": 12, "meningioma": 12, "no_tumor": 6, "pituitary": 12},
              "Testing": {"glioma": 4, "meningioma": 4, "no_tumor": 4, "pituitary": 4}}
    return make_dataset(tmp_path_factory.mktemp("grid") / "data", counts)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance of 2 CPUs for the module; the executor joins it and leaves it running."""
    ray = pytest.importorskip("ray", reason="the Ray tests need the ray extra: pip install -e '.[test]'")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _grid(lr_of_first: float | None = None):
    from tumorbench.study import imbalance_config

    # One thread on both sides (a Ray task gets --cpus-per-task threads, the local executor the run's `threads`):
    # a different thread count reorders the convolutions' float sums, so the probabilities would differ in their
    # last digits (up to 1e-3 under bf16 autocast) and the predictions files would not be byte-identical.
    base = make_config({"image_size": 24, "threads": 1, "train": {"epochs": 2, "batch_size": 8},
                        "models": ["model_1"]})
    config = imbalance_config(base, models=["model_1"], strategies=["none", "oversample"], seeds=2)
    if lr_of_first is not None:
        config.models[0].lr = lr_of_first
    return config


def _test_probs(out: Path) -> dict[str, np.ndarray]:
    return {folder.name: pd.read_csv(folder / "predictions_test.csv")[list(PROB_COLUMNS)].to_numpy()
            for folder in sorted((out / "models").iterdir())}


def test_same_seeds_give_the_same_models_on_ray_and_locally(grid_data, tmp_path, ray_cluster):
    from tumorbench.executors import make_executor
    from tumorbench.study import run_imbalance_study

    config = _grid()
    run_imbalance_study(config, data_root=grid_data, out=tmp_path / "local")
    run_imbalance_study(config, data_root=grid_data, out=tmp_path / "ray",
                        executor=make_executor("ray", cpus_per_task=1))
    local, remote = _test_probs(tmp_path / "local"), _test_probs(tmp_path / "ray")
    assert list(local) == list(remote) and len(local) == 4  # 1 model x 2 strategies x 2 seeds
    for name in local:
        np.testing.assert_allclose(remote[name], local[name], atol=1e-6, err_msg=name)
        for split in ("predictions_val.csv", "predictions_test.csv"):  # the same bytes, not only close values
            here, there = (tmp_path / side / "models" / name / split for side in ("local", "ray"))
            assert here.read_bytes() == there.read_bytes(), f"{name}/{split}"
    summaries = [json.loads((tmp_path / d / "study_imbalance.json").read_text()) for d in ("local", "ray")]
    for a, b in zip(summaries[0]["rows"], summaries[1]["rows"]):
        assert a["accuracy.mean"] == pytest.approx(b["accuracy.mean"], abs=1e-9)
        assert a["macro_f1.mean"] == pytest.approx(b["macro_f1.mean"], abs=1e-6)
    # Seeds differ within a strategy: the replicas are not copies of one another.
    assert not np.allclose(local["model_1.none.seed0"], local["model_1.none.seed1"])


def test_a_failing_cell_on_ray_is_recorded_and_the_others_land_and_resume(grid_data, tmp_path, ray_cluster):
    from tumorbench.executors import make_executor
    from tumorbench.run import ModelsFailed
    from tumorbench.study import run_imbalance_study

    out = tmp_path / "study"
    with pytest.raises(ModelsFailed, match=r"1 of 4 model\(s\) failed \(model_1\.none\.seed0: epoch 1"):
        run_imbalance_study(_grid(lr_of_first=1e8), data_root=grid_data, out=out,
                            executor=make_executor("ray", cpus_per_task=1))
    failed = out / "models" / "model_1.none.seed0"
    assert (failed / "failed.json").is_file() and not (failed / "info.json").exists()
    done = sorted(p.name for p in (out / "models").iterdir() if (p / "info.json").is_file())
    assert done == ["model_1.none.seed1", "model_1.oversample.seed0", "model_1.oversample.seed1"]
    assert (out / "study_imbalance.json").is_file()  # the finished cells are summarised already
    kept = {name: (out / "models" / name / "checkpoint.pt").stat().st_mtime_ns for name in done}
    run_imbalance_study(_grid(), data_root=grid_data, out=out, executor=make_executor("ray", cpus_per_task=1))
    assert (failed / "info.json").is_file() and not (failed / "failed.json").exists()
    assert {name: (out / "models" / name / "checkpoint.pt").stat().st_mtime_ns for name in done} == kept


def test_ray_refuses_a_task_bigger_than_the_cluster(ray_cluster):
    from tumorbench.executors import make_executor

    with (pytest.raises(ValueError, match="--cpus-per-task 64 is more than the Ray cluster's 2 CPUs"),
          make_executor("ray", cpus_per_task=64)):
        pass


# ---------------------------------------------------------------------------------------------- MLflow

def _mlflow():
    return pytest.importorskip("mlflow", reason="the MLflow tests need the mlflow extra: pip install -e '.[test]'")


def _runs(client, run_dir: Path):
    state = json.loads((run_dir / "mlflow.json").read_text())
    parent = client.get_run(state["run_id"])
    children = client.search_runs([state["experiment_id"]],
                                  filter_string=f"tags.mlflow.parentRunId = '{state['run_id']}'")
    return state, parent, {r.info.run_name: r for r in children}


def test_a_run_is_tracked_in_a_local_store_in_the_run_folder(grid_data, tmp_path):
    mlflow = _mlflow()
    from click.testing import CliRunner

    from tumorbench.cli import main

    out = tmp_path / "run"
    args = ["run", "--data", str(grid_data), "--models", "model_1,model_3", "--image-size", "24", "--epochs", "2",
            "--out", str(out), "--mlflow"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    state, parent, children = _runs(client, out)
    assert parent.info.status == "FINISHED" and parent.data.params["train.epochs"] == "2"
    assert set(children) == {"model_1", "model_3"}
    child = children["model_1"]
    history = client.get_metric_history(child.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2]
    metrics = json.loads((out / "metrics.json").read_text())["models"]["model_1"]
    assert child.data.metrics["test.accuracy"] == pytest.approx(metrics["accuracy"])
    assert parent.data.metrics["model_3.accuracy"] == pytest.approx(
        json.loads((out / "metrics.json").read_text())["models"]["model_3"]["accuracy"])
    files = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert {"checkpoint.pt", "history.json", "predictions_test.csv"} <= files
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    # --resume continues the same MLflow run: no second benchmark run, no model logged twice.
    result = CliRunner().invoke(main, [*args, "--resume"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "mlflow.json").read_text())["run_id"] == state["run_id"]
    assert len(client.search_runs([state["experiment_id"]])) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 and a free port, stopped at the end."""
    _mlflow()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start on {url} (exit code {proc.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_evaluate_is_tracked_on_a_real_mlflow_server(tmp_path, mlflow_server):
    mlflow = _mlflow()
    from click.testing import CliRunner

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.cli import main
    from tumorbench.predictions.io import predictions_frame, write_predictions

    rng = np.random.default_rng(0)
    labels = [CLASS_NAMES[i % 4] for i in range(40)]
    files = []
    for name in ("alpha", "beta"):
        probs = rng.dirichlet(np.ones(4), size=40)
        files.append(write_predictions(tmp_path / f"{name}.csv",
                                       predictions_frame([f"i{i}.png" for i in range(40)], labels, probs)))
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", *map(str, files), "--out", str(out), "--mlflow", mlflow_server],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    state, parent, children = _runs(client, out)
    assert set(children) == {"alpha", "beta"} and parent.data.tags["tumorbench.kind"] == "evaluate"
    metrics = json.loads((out / "metrics.json").read_text())["models"]
    assert parent.data.metrics["beta.accuracy"] == pytest.approx(metrics["beta"]["accuracy"])
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "alpha.csv" in {a.path for a in client.list_artifacts(children["alpha"].info.run_id)}
