"""The example notebook runs from top to bottom (so it cannot go stale), and shows what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "benchmark_two_models.ipynb"


@pytest.mark.slow
@pytest.mark.notebook
def test_example_notebook_runs_and_shows_both_models(tmp_path):
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), "commit the notebook without outputs"
    # Executed in a scratch folder: its run folders and saved report land there, not in the project.
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    html = [output["data"]["text/html"] for cell in notebook.cells for output in cell.get("outputs", [])
            if "text/html" in output.get("data", {})]
    summary = next(h for h in html if "tumorbench run" in h)
    assert "<td>model_1</td>" in summary and "<td>model_3</td>" in summary
    figures = [output for cell in notebook.cells for output in cell.get("outputs", [])
               if "application/vnd.plotly.v1+json" in output.get("data", {})]
    assert len(figures) == 2
    assert (tmp_path / "benchmark_report.html").stat().st_size > 100_000
