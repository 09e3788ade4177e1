"""The report a person reads first: "At a glance" on top, the audit folded when clean, pictures of each
model's mistakes with saliency (made during the run, rebuilt without the model), plotly.js inline or CDN."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner
from markupsafe import escape
from test_report import make_run_folder, write_synthetic_predictions

from tumorbench.cli import main
from tumorbench.config import make_config
from tumorbench.explain import grad_cam_available, select_gallery
from tumorbench.predictions.io import read_predictions, write_predictions
from tumorbench.report import build_report, evaluate_files
from tumorbench.run import run_benchmark
from tumorbench.runfolder import gallery_dir
from tumorbench.sections import write_full_report


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import make_dataset

    root = tmp_path_factory.mktemp("gallery")
    data = make_dataset(root / "data", {"Training": {c: 10 for c in ("glioma", "meningioma", "no_tumor", "pituitary")},
                                        "Testing": {c: 4 for c in ("glioma", "meningioma", "no_tumor", "pituitary")}})
    config = make_config({"image_size": 24, "train": {"epochs": 1}, "models": ["model_1", "model_3"], "threads": 1})
    out = run_benchmark(config, data_root=data, out=root / "run")
    return out, write_full_report(out)


def _glance(html: str) -> str:
    return html[html.index('<section id="at-a-glance">'):html.index("</section>", html.index('id="at-a-glance"'))]


@pytest.mark.slow
def test_at_a_glance_comes_first_and_names_the_recommended_model(tiny_run):
    run, report = tiny_run
    html = report.read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    body = html[html.index("<main>"):]
    headings = re.findall(r"<h2[^>]*>([^<]*)", body)
    assert headings[:2] == ["Checks", "At a glance"]  # the verdict table, then the glance
    assert body.index('id="checks-table"') < body.index('id="at-a-glance"')
    glance = _glance(html)
    best = metrics["ranking"][0]
    # The recommendation (or why there is none, for models that learned nothing) opens the glance.
    assert str(escape(metrics["recommendation"][0])) in glance
    assert glance.index('id="recommendation"') < glance.index('id="glance-table"')
    rows = re.findall(r'<tr><td>(\d+)</td><td class="text"><a href="#model-[^"]+">([^<]+)</a>', glance)
    assert [name for _, name in rows] == metrics["ranking"]
    assert f"{metrics['models'][best]['accuracy']:.3f}" in glance
    # The audit follows the glance, and is folded when it found nothing.
    assert html.index('id="section-top-1"') > html.index('id="at-a-glance"')


@pytest.mark.slow
def test_run_stores_a_gallery_and_the_report_shows_it_without_the_model(tiny_run):
    run, _ = tiny_run
    for name in ("model_1", "model_3"):
        folder = run / "models" / name
        index = json.loads((gallery_dir(folder / "predictions_test.csv") / "index.json").read_text())
        frame = read_predictions(folder / "predictions_test.csv")
        chosen = select_gallery(frame)
        assert len(index["mistakes"]) == len(chosen["mistakes"])
        assert all((gallery_dir(folder / "predictions_test.csv") / item["file"]).is_file() for item in index["items"])
        if grad_cam_available():
            assert index["method"].startswith("Grad-CAM") and all(item["overlay"] for item in index["items"])
        (folder / "checkpoint.pt").unlink()  # the report needs no model
    html = write_full_report(run).read_text()
    tiles = re.findall(r'<button type="button" class="tile (correct|wrong)"', html)
    assert tiles and "wrong" in tiles
    assert html.count("data:image/jpeg;base64,") >= len(tiles)
    assert "Most confident mistakes" in html and "Per class: the most confident correct and wrong answers" in html
    assert 'id="lightbox"' in html


@pytest.mark.slow
def test_a_stale_or_missing_gallery_is_left_out_with_the_reason(tiny_run, tmp_path):
    run, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    predictions = copy / "models" / "model_1" / "predictions_test.csv"
    frame = read_predictions(predictions)
    probs = frame.filter(like="prob_")
    frame[probs.columns] = probs.to_numpy()[:, ::-1]  # other predictions than the gallery was made from
    write_predictions(predictions, frame)
    shutil.rmtree(gallery_dir(copy / "models" / "model_3" / "predictions_test.csv"))
    html = build_report(copy).read_text()
    assert "was made from other predictions" in html
    assert "No pictures: there is no picture gallery beside the predictions (predictions_test.gallery/)" in html


def test_predictions_without_a_model_say_why_there_are_no_pictures(tmp_path):
    path = write_synthetic_predictions(tmp_path / "external.csv")
    html = evaluate_files([path], out_dir=tmp_path / "out").read_text()
    assert "No pictures" in html and "tumorbench predict --model FILE" in html
    assert "button type=\"button\" class=\"tile" not in html
    assert "Most confident mistakes" in html  # still listed, as a table


def test_plotly_cdn_gives_a_small_file_without_the_bundle(tmp_path):
    run = make_run_folder(tmp_path)
    inline = build_report(run).read_text()
    assert inline.count("* plotly.js v") == 1
    result = CliRunner().invoke(main, ["report", str(run), "--plotly", "cdn"])
    assert result.exit_code == 0, result.output
    cdn = (run / "report.html").read_text()
    assert "* plotly.js v" not in cdn
    scripts = re.findall(r'<script src="(https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js)" integrity="sha256-', cdn)
    assert len(scripts) == 1
    assert len(cdn) < len(inline) - 4_000_000
    with pytest.raises(ValueError, match="valid modes: inline, cdn"):
        build_report(run, plotly="online")


@pytest.mark.slow
def test_audit_warnings_reach_the_glance_and_a_clean_audit_is_folded(tiny_run):
    from tumorbench.audit import audit_found_nothing, audit_warnings, load_audit
    from tumorbench.sections import audit_section

    run, report = tiny_run
    audit = load_audit(run / "audit.json")
    section = audit_section(audit)
    duplicated = len(audit["test_duplicates"])
    assert section.collapsed == (duplicated == 0 and not section.warnings)
    glance = _glance(report.read_text())
    assert ("have a copy in training" in glance) == (duplicated > 0)
    folded = '<details class="section"' in report.read_text()
    assert folded == section.collapsed
    leaky = {**audit, "label_conflicts": [*audit["label_conflicts"], {"paths": ["a.png", "b.png"]}],
             "shortcut": {**audit["shortcut"], "leak": True, "accuracy": 0.9}}
    warnings = audit_warnings(leaky)
    assert not audit_found_nothing(leaky)
    assert any(f"{len(leaky['label_conflicts'])} label conflict(s)" in w for w in warnings)
    assert any("File properties give the label away (90% accuracy" in w for w in warnings)
