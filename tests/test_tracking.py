"""MLflow tracking URIs the installed MLflow refuses end in one line naming the URI and what to pass instead,
before anything is trained or evaluated (MLflow 3 refuses its plain-folder store `file://DIR`)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tumorbench.cli import main


@pytest.fixture
def mlflow_refusing_folder_stores(tmp_path, monkeypatch):
    """The installed MLflow, checked to refuse a plain-folder store as MLflow 3 does (else: skip)."""
    mlflow = pytest.importorskip("mlflow", reason="the MLflow tests need the mlflow extra: pip install -e '.[test]'")
    from mlflow.exceptions import MlflowException

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    try:
        mlflow.MlflowClient(tracking_uri=(tmp_path / "probe").as_uri())
    except MlflowException as exc:
        assert "MLFLOW_ALLOW_FILE_STORE" in str(exc)  # the failure this module is about
    else:
        pytest.skip(f"MLflow {mlflow.__version__} still accepts its plain-folder store")
    return mlflow


def _one_line_with_the_fix(output: str, uri: str) -> None:
    assert "Traceback" not in output and "MlflowException" not in output
    message = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(message) == 1, output
    assert uri in message[0] and "sqlite:///" in message[0] and "MLFLOW_ALLOW_FILE_STORE=true" in message[0]


def test_run_with_a_folder_store_stops_before_training_and_says_what_to_pass(
        tmp_path, mlflow_refusing_folder_stores):
    from tests.conftest import make_dataset

    data = make_dataset(tmp_path / "data", {"Training": {"glioma": 3, "meningioma": 3},
                                            "Testing": {"glioma": 2, "meningioma": 2}})
    uri = (tmp_path / "mlruns").as_uri()
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--data", str(data), "--models", "model_1", "--epochs", "1",
                                       "--image-size", "24", "--out", str(out), "--mlflow", uri])
    assert result.exit_code == 1, result.output
    _one_line_with_the_fix(result.output, uri)
    assert not out.exists()  # refused before the run folder was claimed: nothing trained, nothing to clean


def test_evaluate_with_a_folder_store_stops_before_evaluating(tmp_path, mlflow_refusing_folder_stores):
    from tumorbench.classes import CLASS_NAMES
    from tumorbench.predictions.io import predictions_frame, write_predictions

    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=8)
    path = write_predictions(tmp_path / "a.csv", predictions_frame(
        [f"i{i}.png" for i in range(8)], [CLASS_NAMES[i % 4] for i in range(8)], probs))
    uri = (tmp_path / "mlruns").as_uri()
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["evaluate", str(path), "--out", str(out), "--mlflow", uri])
    assert result.exit_code == 1, result.output
    _one_line_with_the_fix(result.output, uri)
    assert not out.exists()


def test_the_suggested_opt_out_is_accepted(tmp_path, monkeypatch, mlflow_refusing_folder_stores):
    from tumorbench.tracking import connect

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = connect((tmp_path / "mlruns").as_uri())
    assert client.create_experiment("x")  # the folder store works once opted in
