import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from tumorbench.classes import CLASS_NAMES
from tumorbench.models import create_model, get_model_entry, list_models
from tumorbench.models.seed_cnn import SeedCNN
from tumorbench.models.transfer import build_transfer
from tumorbench.models.weights import load_weights_file, resolve_weights


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_builds_runs_and_learns(name):
    """Every registry entry builds at its input spec, maps a batch to one finite logit per class that
    depends on the image, and passes finite gradients to every trainable parameter."""
    entry = get_model_entry(name)
    spec = entry.preprocess.with_size(max(entry.min_size, 40) if not entry.transfer else max(entry.min_size, 80))
    torch.manual_seed(0)
    model = create_model(name, spec).train()
    x = spec.to_tensor(torch.randint(0, 256, (3, spec.channels, spec.size, spec.size), dtype=torch.uint8))
    for m in model.modules():  # no dropout noise: a difference between rows must come from the images
        if isinstance(m, nn.Dropout):
            m.eval()
    if entry.fitted:  # fitted in closed form: fit it on a small batch first (it has nothing to train by SGD)
        more = spec.to_tensor(torch.randint(0, 256, (8, spec.channels, spec.size, spec.size), dtype=torch.uint8))
        model.fit_batches([more], np.arange(8) % len(CLASS_NAMES), seed=0)
    logits = model(x)
    assert logits.shape == (3, len(CLASS_NAMES))
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits[0], logits[1]), "the output does not depend on the image"
    if not any(p.requires_grad for p in model.parameters()):
        return  # nothing trainable by gradients (a fitted model)
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_registry_lists_the_seed_models_and_more():
    names = list_models()
    for required in ("model_1", "model_2", "model_3", "baseline", "resnet18", "efficientnet_b0",
                     "mobilenet_v3_small"):
        assert required in names
    assert get_model_entry("model_1").preprocess.size == 256 and get_model_entry("model_1").preprocess.grayscale
    assert get_model_entry("model_2").balance == "augment_balance"
    assert get_model_entry("baseline").preprocess.size == 299 and not get_model_entry("baseline").preprocess.grayscale
    with pytest.raises(ValueError, match="valid models: model_1"):
        get_model_entry("model_9")


def test_model_1_is_the_seed_cnn_layer_for_layer():
    m = create_model("model_1")
    convs = [layer for layer in m.modules() if isinstance(layer, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 32, (3, 3)), (32, 64, (3, 3)), (64, 128, (3, 3)), (128, 128, (3, 3))]
    kinds = [type(layer).__name__ for layer in m.features]
    # The activations before each pool run after it (same outputs: see the next test).
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU"]
    dense = [layer for layer in m.classifier if isinstance(layer, nn.Linear)]
    assert dense[0].in_features == 128 * 61 * 61 and dense[0].out_features == 64 and dense[1].out_features == 4
    assert [layer.p for layer in m.classifier if isinstance(layer, nn.Dropout)] == [0.2]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_relu_after_the_pool_computes_the_seeds_order(precision):
    """Pool-then-ReLU gives what the seed's ReLU-then-pool gives, outputs and gradients bit for bit."""
    torch.manual_seed(0)
    ours = create_model("model_1", get_model_entry("model_1").preprocess.with_size(40))
    seed = copy.deepcopy(ours)
    f = list(seed.features)
    seed.features = nn.Sequential(*f[:3], f[4], f[3], *f[5:8], f[9], f[8])  # ReLU, then pool
    assert [type(m).__name__ for m in seed.features][2:5] == ["Conv2d", "ReLU", "MaxPool2d"]
    x = torch.rand(6, 1, 40, 40)

    def run(model):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model.features(x)
        out.float().square().sum().backward()
        return out.detach(), [p.grad.clone() for p in model.features.parameters()]

    (a, grads_a), (b, grads_b) = run(ours), run(seed)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    for ga, gb in zip(grads_a, grads_b):
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)


def test_model_3_uses_sigmoid_in_the_four_convolutions_only():
    m = create_model("model_3")
    assert sum(isinstance(layer, nn.Sigmoid) for layer in m.features) == 4
    kinds = [type(layer).__name__ for layer in m.features]  # the seed's order: activation, then pool
    assert kinds == ["Conv2d", "Sigmoid", "Conv2d", "Sigmoid", "MaxPool2d"] * 2
    assert not any(isinstance(layer, nn.ReLU) for layer in m.features)
    assert any(isinstance(layer, nn.ReLU) for layer in m.classifier)


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="at least 75 px"):
        create_model("baseline", get_model_entry("baseline").preprocess.with_size(64))


def test_imagenet_weights_load_from_a_local_file_strictly(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), tmp_path / "resnet18.pth")
    state, source, note = resolve_weights("resnet18", str(tmp_path / "resnet18.pth"))
    assert source == f"file:{tmp_path / 'resnet18.pth'}" and note is None
    net = build_transfer("resnet18", 4, state)
    assert torch.equal(net.prefix[0].weight, tv.conv1.weight)
    assert torch.equal(net.upper[0][0].conv1.weight, tv.layer4[0].conv1.weight)
    # A file for another architecture fails loudly instead of loading half the weights.
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(RuntimeError, match="Missing key"):
        build_transfer("resnet18", 4, load_weights_file(tmp_path / "wrong.pth"))


def test_without_weights_offline_the_note_says_from_scratch(monkeypatch, tmp_path):
    monkeypatch.setenv("TUMORBENCH_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    state, source, note = resolve_weights("baseline", "imagenet")
    assert state is None and source == "none" and "trained from scratch" in note
    with pytest.raises(ValueError, match="weights file not found"):
        resolve_weights("baseline", str(tmp_path / "missing.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        resolve_weights("baseline", str(tmp_path / "junk.pth"))


def test_seed_cnn_flatten_size_follows_the_input_size():
    for size in (64, 128, 256):
        m = SeedCNN(in_channels=1, size=size, num_classes=4)
        assert m(torch.zeros(1, 1, size, size)).shape == (1, 4)


def test_torchvision_is_imported_only_when_a_backbone_is_built():
    """Importing torchvision pulls in torch._dynamo (+156 MB RSS): the registry, training and the run
    must not import it until a transfer model is built, so commands that do not build one never pay it."""
    import subprocess
    import sys

    code = ("import sys, tumorbench.run, tumorbench.training.fit, tumorbench.models.weights\n"
            "from tumorbench.models import create_model, get_model_entry\n"
            "create_model('model_1', get_model_entry('model_1').preprocess.with_size(32))\n"
            "print('torchvision' in sys.modules)\n"
            "from tumorbench.models.transfer import build_transfer\n"
            "build_transfer('resnet18', 4)\n"
            "print('torchvision' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_seed_cnn_dense_layer_runs_in_fp32_under_bf16_autocast():
    # Rounding its 100 k+ inputs to bf16 cost 1.5 points of macro-F1: the head stays fp32, the convolutions not.
    torch.manual_seed(0)
    model = create_model("model_1", get_model_entry("model_1").preprocess.with_size(40))
    dtypes = {}
    for name in ("features", "classifier"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: dtypes.update({name: o.dtype}))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 1, 40, 40))
    assert dtypes == {"features": torch.bfloat16, "classifier": torch.float32} and out.dtype == torch.float32
