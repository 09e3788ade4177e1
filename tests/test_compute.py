"""The compute plan: which precision and layout run where, and that they predict what fp32 NCHW does."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from tumorbench.config import make_config, resolve_model
from tumorbench.data.arrays import ImageArrays
from tumorbench.inference import compute as compute_module
from tumorbench.inference.compute import ComputePlan, plan_compute
from tumorbench.inference.predictor import network_predictor
from tumorbench.models import create_model
from tumorbench.models.transfer import build_transfer
from tumorbench.training.fit import fit

CPU = torch.device("cpu")
# bfloat16 keeps 8 bits of mantissa (relative error 2^-8 per rounding). On the confident random-input
# networks below it moved probabilities by at most 0.023 (seed CNN) and 0.003 (ResNet-18); we allow 0.05.
BF16_PROB_TOLERANCE = 0.05
# The same fp32 arithmetic in another memory order only changes the order of additions (measured: 4e-6).
LAYOUT_PROB_TOLERANCE = 1e-5


@pytest.mark.parametrize("flags, expected", [
    # This project's CPU: bf16 would be emulated, and channels-last weight gradients are slow in oneDNN.
    (frozenset({"avx2", "fma"}), "cpu fp32 channels_last (NCHW training) 2 threads"),
    (frozenset({"avx512f", "avx512_bf16"}), "cpu bf16 channels_last 2 threads"),
    (frozenset({"amx_bf16"}), "cpu bf16 channels_last 2 threads"),
    (frozenset(), "cpu fp32 channels_last (NCHW training) 2 threads"),  # no /proc/cpuinfo: nothing assumed
], ids=["avx2", "avx512-bf16", "amx", "unknown-cpu"])
def test_auto_precision_uses_bf16_only_where_the_cpu_has_it(monkeypatch, flags, expected):
    monkeypatch.setattr(compute_module, "cpu_flags", lambda: flags)
    assert plan_compute(CPU, "auto", threads=2).describe() == expected
    assert plan_compute(CPU, "fp32", threads=2).precision == "fp32"
    plan = plan_compute(CPU, "auto", threads=2)
    assert plan.channels_last and plan.training().channels_last == ("bf16" in expected)


def test_cuda_gets_mixed_precision_bf16_or_fp16_with_a_scaler(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    plan = plan_compute(torch.device("cuda"), "auto", threads=4)
    assert plan.describe() == "cuda amp bf16 channels_last" and plan.grad_scaler() is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    plan = plan_compute(torch.device("cuda"), "auto", threads=4)
    assert plan.describe() == "cuda amp fp16 channels_last" and plan.precision == "fp16"
    assert plan_compute(torch.device("cuda"), "fp32").describe() == "cuda fp32 channels_last"


@pytest.mark.parametrize("precision, threads, match", [
    ("fp16", None, "fp16 needs a CUDA GPU; on the CPU use auto, fp32 or bf16"),
    ("half", None, "unknown precision 'half'; valid: auto, fp32, bf16, fp16"),
    ("auto", 0, "threads must be at least 1"),
], ids=["fp16-on-cpu", "unknown", "zero-threads"])
def test_bad_settings_are_refused_with_the_valid_ones(precision, threads, match):
    with pytest.raises(ValueError, match=match):
        plan_compute(CPU, precision, threads=threads)


def test_config_validates_precision_and_threads():
    assert make_config({"precision": "bf16", "threads": 3}).precision == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp8'; valid: auto, fp32, bf16, fp16"):
        make_config({"precision": "fp8"})
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        make_config({"threads": 0})


def test_eval_batches_hold_a_bounded_number_of_pixels():
    from tumorbench.inference.compute import EVAL_PIXELS_PER_BATCH

    plan = plan_compute(CPU, "fp32", threads=1)
    sizes = [16, 32, 64, 128, 256, 299, 512, 2048]
    batches = [plan.eval_batch_size(s) for s in sizes]
    # Small images in large batches (capped), large ones in small batches: the memory of a batch is bounded.
    assert batches == sorted(batches, reverse=True) and batches[0] == 512 and batches[-1] == 1
    for size, batch in zip(sizes, batches):
        assert batch == 1 or batch * size * size <= EVAL_PIXELS_PER_BATCH
    assert plan.eval_batch_size(256) < 32  # a training batch of the seed CNN at 256 px: +1 GB of RSS


def _arrays(n: int, size: int, channels: int, seed: int = 0) -> ImageArrays:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    return ImageArrays(torch.from_numpy(x), torch.from_numpy(rng.integers(0, 4, n)), [str(i) for i in range(n)])


def _sharpened(model: torch.nn.Module, data: ImageArrays, spec) -> torch.nn.Module:
    # A fresh network predicts nearly uniform probabilities, which any arithmetic reproduces; scaling
    # the last layer so that the logits spread by about 3 makes precision show in the probabilities.
    model.eval()
    with torch.no_grad():
        logits = model(spec.to_tensor(data.x))
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        factor = 3.0 / float((logits - logits.mean(1, keepdim=True)).std())
        last.weight.mul_(factor)
        last.bias.mul_(factor)
    return model


def _probabilities(model, data, spec, plan: ComputePlan) -> np.ndarray:
    import copy

    return network_predictor(copy.deepcopy(model), spec, name="m", compute=plan).predict_proba(data.x)


@pytest.mark.parametrize("arch", ["model_1", "resnet18"])
def test_channels_last_and_bf16_predict_what_fp32_nchw_predicts(arch):
    config = make_config({"image_size": 48, "models": [arch], "weights": "none"})
    spec = resolve_model(config.models[0], config).preprocess
    torch.manual_seed(0)
    data = _arrays(24, spec.size, spec.channels)
    model = _sharpened(create_model(arch, spec) if arch == "model_1" else build_transfer(arch, 4), data, spec)
    fp32 = plan_compute(CPU, "fp32", threads=1)
    reference = _probabilities(model, data, spec, dataclasses.replace(fp32, channels_last=False))
    assert reference.max(1).mean() > 0.6  # confident predictions: the comparison below means something
    channels_last = _probabilities(model, data, spec, fp32)
    np.testing.assert_allclose(channels_last, reference, atol=LAYOUT_PROB_TOLERANCE)
    bf16 = _probabilities(model, data, spec, plan_compute(CPU, "bf16", threads=1))
    assert not np.array_equal(bf16, reference)  # it really computed in bfloat16
    np.testing.assert_allclose(bf16, reference, atol=BF16_PROB_TOLERANCE)
    margin = np.sort(reference, 1)[:, -1] - np.sort(reference, 1)[:, -2]
    clear = margin > 2 * BF16_PROB_TOLERANCE
    assert (bf16.argmax(1)[clear] == reference.argmax(1)[clear]).all()


def test_bf16_training_keeps_float32_weights_and_learns():
    config = make_config({"image_size": 24, "train": {"epochs": 3, "batch_size": 8}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 12)
    x = np.zeros((48, 1, 24, 24), np.uint8)
    for i, label in enumerate(y):  # the class is a bright square in one quadrant: easy to learn
        r, c = divmod(int(label), 2)
        x[i, 0, r * 12:r * 12 + 8, c * 12:c * 12 + 8] = 200 + rng.integers(0, 50)
    data = ImageArrays(torch.from_numpy(x), torch.from_numpy(y), [str(i) for i in range(48)])
    result = fit(rm, data, data, device=CPU, compute=plan_compute(CPU, "bf16", threads=1))
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert np.isfinite(result.history["loss"]).all()
    assert result.history["loss"][-1] < result.history["loss"][0]


def _one_epoch(micro_batch, data, rm, *, dropout=0.0):
    from torch import nn

    from tumorbench.training.fit import Phase, train_one_epoch
    from tumorbench.training.losses import make_loss

    torch.manual_seed(0)
    net = create_model("model_1", rm.preprocess)
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.p = dropout  # dropout masks are drawn per part: switched off to compare the arithmetic
    phase = Phase("train", 1, 1e-3, nn.Identity(), net)
    loss_fn, _ = make_loss("none", data.y.numpy(), 4)
    stats = train_one_epoch(phase, data, None, loss_fn=loss_fn, optimizer=torch.optim.Adam(net.parameters(), 1e-3),
                            rm=rm, rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(0),
                            compute=plan_compute(CPU, "fp32", threads=1), desc="t", micro_batch=micro_batch)
    return net, stats


def test_micro_batches_take_the_same_step_as_the_whole_batch():
    config = make_config({"image_size": 24, "train": {"batch_size": 8}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    data = _arrays(16, 24, 1)
    whole, stats_whole = _one_epoch(None, data, rm)
    parts, stats_parts = _one_epoch(3, data, rm)  # 8 = 3 + 3 + 2: unequal parts weigh by their size
    assert stats_parts["loss"] == pytest.approx(stats_whole["loss"], rel=1e-5)
    assert stats_parts["accuracy"] == stats_whole["accuracy"]
    for a, b in zip(whole.parameters(), parts.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_micro_batch_size_follows_the_activation_budget():
    from torch import nn

    from tumorbench.training.fit import Phase, micro_batch_size

    plan = plan_compute(CPU, "fp32", threads=1)
    spec = make_config({"models": ["model_1"]})
    net = plan.prepare_model(create_model("model_1", resolve_model(spec.models[0], spec).preprocess.with_size(64)))
    phase = Phase("train", 1, 1e-3, nn.Identity(), net)
    probe = plan.to_input(torch.rand(2, 1, 64, 64))
    state = torch.random.get_rng_state()
    assert micro_batch_size(phase, probe, 32, plan) == 32  # 64 px: a batch fits the default budget
    assert torch.equal(torch.random.get_rng_state(), state)  # the probe's dropout left the run's RNG alone
    # ~3.1 MB per image at 64 px (four activations, two pooled maps and their int64 indices): a batch
    # of 32 needs ~100 MB, so a 10 MB budget takes 10 parts of at most 4 images.
    assert micro_batch_size(phase, probe, 32, plan, budget=10 << 20) in (3, 4)
    batchnorm = Phase("train", 1, 1e-3, nn.Identity(), nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8)))
    assert micro_batch_size(batchnorm, probe, 32, plan, budget=1) == 32  # statistics need the whole batch


def _spin_settings_after(code: str, **env_vars: str) -> tuple[str, str]:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_vars)
    out = subprocess.run([sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY'), "
                          "os.environ.get('GOMP_SPINCOUNT'))"], env=env, capture_output=True, text=True, check=True)
    policy, spins = out.stdout.strip().splitlines()[-1].split()
    return policy, spins


def test_importing_tumorbench_bounds_how_long_openmp_threads_spin():
    # Without it, two threads on two cores beside any busy process trained the embedded run's CNN 3x slower
    # than on a quiet machine (benchmarks/bench_threads.py); it must be set before torch loads OpenMP.
    from tumorbench._env import OPENMP_SPIN_COUNT

    assert _spin_settings_after("import tumorbench") == ("None", OPENMP_SPIN_COUNT)
    assert _spin_settings_after("import tumorbench.cli") == ("None", OPENMP_SPIN_COUNT)
    # A choice the user made is kept; after torch is loaded the variable would do nothing, so it is not set.
    assert _spin_settings_after("import tumorbench", OMP_WAIT_POLICY="PASSIVE") == ("PASSIVE", "None")
    assert _spin_settings_after("import tumorbench", GOMP_SPINCOUNT="0") == ("None", "0")
    assert _spin_settings_after("import torch; import tumorbench") == ("None", "None")


def test_micro_batches_count_what_each_image_adds_not_the_bf16_weight_copies():
    from torch import nn

    from tumorbench.training.fit import Phase, micro_batch_size

    # A big dense layer (16 M weights: a 32 MB bf16 copy under autocast, saved for backward) on small
    # inputs (8 kB each): a fixed cost per micro-batch, which must not split the batch into parts.
    net = nn.Sequential(nn.Flatten(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4))
    phase = Phase("train", 1, 1e-3, nn.Identity(), net)
    probe = torch.rand(2, 1, 64, 64)
    bf16 = plan_compute(CPU, "bf16", threads=1)
    assert micro_batch_size(phase, probe, 32, bf16, budget=4 << 20) == 32
    # The per-image part still counts: a budget below a batch's activations splits it.
    assert micro_batch_size(phase, probe, 32, bf16, budget=200 << 10) < 32


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_fused_optimizer_takes_the_step_the_default_one_takes(name):
    from torch import nn

    from tumorbench.training.fit import make_optimizer

    config = make_config({"models": ["model_1"], "train": {"optimizer": name, "weight_decay": 1e-3}})
    rm = resolve_model(config.models[0], config)
    torch.manual_seed(0)
    a = nn.Linear(16, 4)
    b = nn.Linear(16, 4)
    b.load_state_dict(a.state_dict())
    start = a.weight.detach().clone()
    fused = make_optimizer(list(a.parameters()), rm, lr=1e-2)
    assert fused.defaults["fused"]  # CPU float weights: the one-pass kernel
    plain = type(fused)(b.parameters(), lr=1e-2, weight_decay=rm.weight_decay, foreach=False)
    x = torch.randn(8, 16)
    for _ in range(3):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(a.weight, start)  # it moved: the comparison means something


def test_a_bf16_training_step_moves_the_weights_as_the_fp32_step_does():
    # The bf16 path (autocast, channels-last, fused Adam, micro-batches sized by what each image adds)
    # against forced fp32 NCHW, one epoch of two steps on a tiny batch: the same direction of travel.
    config = make_config({"image_size": 32, "train": {"batch_size": 8}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    data = _arrays(16, 32, 1)
    fp32 = dataclasses.replace(plan_compute(CPU, "fp32", threads=1), channels_last=False, train_channels_last=False)
    moves = {}
    for name, plan in (("fp32", fp32), ("bf16", plan_compute(CPU, "bf16", threads=1))):
        from torch import nn

        from tumorbench.training.fit import Phase, make_optimizer, train_one_epoch
        from tumorbench.training.losses import make_loss

        torch.manual_seed(0)
        net = plan.training().prepare_model(create_model("model_1", rm.preprocess))
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        start = [p.detach().clone() for p in net.parameters()]
        loss_fn, _ = make_loss("none", data.y.numpy(), 4)
        train_one_epoch(Phase("train", 1, 1e-3, nn.Identity(), net), data, None, loss_fn=loss_fn,
                        optimizer=make_optimizer(list(net.parameters()), rm, lr=1e-3), rm=rm,
                        rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(0),
                        compute=plan.training(), desc="t")
        assert all(p.dtype == torch.float32 for p in net.parameters())  # fp32 master weights either way
        moves[name] = torch.cat([(p.detach() - s).flatten() for p, s in zip(net.parameters(), start)])
    cosine = float(torch.nn.functional.cosine_similarity(moves["bf16"], moves["fp32"], dim=0))
    # Adam's first steps are about lr x sign(gradient), so the gradients bf16 rounding flips in sign count
    # fully; measured 0.95 (unrelated steps: about 0). 0.9 leaves room for another CPU's kernels.
    assert cosine > 0.9, cosine
    assert not torch.equal(moves["bf16"], moves["fp32"])  # it really computed in bfloat16


def _allocator_state(env: dict) -> str:
    import os
    import subprocess
    import sys

    code = ("import torch; from tumorbench.inference.compute import plan_compute; "
            "from tumorbench.inference import allocator; "
            "plan_compute(torch.device('cpu')).apply(); print(allocator.keep_freed_memory())")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="the allocator switch is glibc's")
def test_applying_a_cpu_plan_keeps_freed_memory_unless_the_user_says_system():
    # A fresh process each: the switch is set once per process.
    assert _allocator_state({}) == "True"
    assert _allocator_state({"TUMORBENCH_ALLOCATOR": "system"}) == "False"


def test_the_seed_cnn_backward_stays_channels_last_and_its_gradients_do_not_change(monkeypatch):
    from tumorbench.models import seed_cnn

    torch.manual_seed(0)
    net = seed_cnn.SeedCNN(in_channels=1, size=40, num_classes=4).to(memory_format=torch.channels_last)
    net.eval()  # no dropout: the two passes must see the same network (eval mode still takes gradients)
    x = torch.rand(3, 1, 40, 40).contiguous(memory_format=torch.channels_last)
    seen = []
    net.features[-1].register_full_backward_hook(lambda m, gin, gout: seen.append(gout[0]))

    def grads():
        net.zero_grad()
        net(x).square().sum().backward()
        return [p.grad.clone() for p in net.parameters()]

    kept = grads()
    # The gradient reaching the last max-pool from the dense layer is channels-last, not NCHW.
    assert seen[-1].is_contiguous(memory_format=torch.channels_last) and not seen[-1].is_contiguous()
    monkeypatch.setattr(seed_cnn, "_channels_last", lambda t: False)  # the network as it was before
    before = grads()
    assert seen[-1].is_contiguous() and not seen[-1].is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(kept, before):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_one_cast_per_step_trains_as_one_cast_per_micro_batch(monkeypatch):
    # step_scope keeps the bf16 weight copies across a step's micro-batches; a copy kept past the
    # optimizer's step would train on stale weights from the second step on, and the weights would differ.
    from torch import nn

    from tumorbench.training.fit import Phase, make_optimizer, train_one_epoch
    from tumorbench.training.losses import make_loss

    config = make_config({"image_size": 32, "train": {"batch_size": 8}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    data = _arrays(24, 32, 1)  # three steps
    plan = plan_compute(CPU, "bf16", threads=1).training()
    casts: dict[str, int] = {}

    def train(name: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = plan.prepare_model(create_model("model_1", rm.preprocess))
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        shape = list(net.features[7].weight.shape)  # the last convolution (the dense layer runs in fp32)
        loss_fn, _ = make_loss("none", data.y.numpy(), 4)
        with torch.profiler.profile(record_shapes=True) as prof:  # counts the last convolution weight's casts
            train_one_epoch(Phase("train", 1, 1e-3, nn.Identity(), net), data, None, loss_fn=loss_fn,
                            optimizer=make_optimizer(list(net.parameters()), rm, lr=1e-3), rm=rm,
                            rng=np.random.default_rng(0), generator=torch.Generator().manual_seed(0),
                            compute=plan, desc="t", micro_batch=3)
        casts[name] = sum(e.count for e in prof.key_averages(group_by_input_shape=True)
                          if e.key == "aten::_to_copy" and e.input_shapes and list(e.input_shapes[0]) == shape)
        return [p.detach().clone() for p in net.parameters()]

    kept = train("scope")
    monkeypatch.setattr(ComputePlan, "step_scope", lambda self: contextlib.nullcontext())
    per_micro_batch = train("none")
    for a, b in zip(kept, per_micro_batch):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Without the scope the weight is cast to bf16 for every micro-batch (3 steps x 3); with it once per
    # step (3). The casts of its gradients back to fp32 are the same in both.
    assert casts["none"] - casts["scope"] == 3 * 3 - 3


def test_prediction_casts_each_weight_once_and_predicts_the_same(monkeypatch):
    # A prediction in several batches keeps autocast's bf16 weight copies for the whole call; without
    # the scope every batch casts the weights again. The probabilities must not change.
    config = make_config({"image_size": 32, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    torch.manual_seed(0)
    net = create_model("model_1", rm.preprocess)
    predictor = network_predictor(net, rm.preprocess, name="m", compute=plan_compute(CPU, "bf16", threads=1))
    images = _arrays(20, 32, 1).x.numpy()
    shape = list(net.features[7].weight.shape)  # the last convolution
    casts: dict[str, int] = {}

    def predict(name: str) -> np.ndarray:
        with torch.profiler.profile(record_shapes=True) as prof:
            probs = predictor.predict_proba(images, batch_size=4)  # five batches
        casts[name] = sum(e.count for e in prof.key_averages(group_by_input_shape=True)
                          if e.key == "aten::_to_copy" and e.input_shapes and list(e.input_shapes[0]) == shape)
        return probs

    kept = predict("scope")
    predictor.scope = contextlib.nullcontext
    per_batch = predict("none")
    np.testing.assert_array_equal(kept, per_batch)
    assert casts == {"scope": 1, "none": 5}


def test_validation_casts_each_weight_once(monkeypatch):
    # Validation runs all its batches in one autocast context; in inference mode autocast would cast
    # the weights again for every batch.
    from torch import nn

    from tumorbench.training.fit import Phase, _evaluate

    monkeypatch.setattr(compute_module, "EVAL_PIXELS_PER_BATCH", 4 * 32 * 32)  # batches of 4
    config = make_config({"image_size": 32, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    plan = plan_compute(CPU, "bf16", threads=1)
    torch.manual_seed(0)
    net = plan.prepare_model(create_model("model_1", rm.preprocess))
    shape = list(net.features[7].weight.shape)  # the last convolution
    with torch.profiler.profile(record_shapes=True) as prof:
        result = _evaluate(Phase("train", 1, 1e-3, nn.Identity(), net), _arrays(20, 32, 1), None,
                           nn.CrossEntropyLoss(), rm, plan)
    casts = sum(e.count for e in prof.key_averages(group_by_input_shape=True)
                if e.key == "aten::_to_copy" and e.input_shapes and list(e.input_shapes[0]) == shape)
    assert casts == 1
    assert 0.0 <= result["accuracy"] <= 1.0 and np.isfinite(result["loss"])


def test_automatic_bf16_stays_fp32_for_depthwise_networks(monkeypatch):
    # Measured: EfficientNet-Lite0 fine-tunes faster in fp32 than in bf16 on an AMX CPU; the seed CNN not.
    from torch import nn

    from tumorbench.data.preprocess import PreprocessSpec

    monkeypatch.setattr(compute_module, "cpu_has_native_bf16", lambda: True)
    spec = PreprocessSpec(size=16, grayscale=False)
    depthwise = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, groups=8), nn.Flatten(), nn.Linear(8 * 14 * 14, 4))
    auto = plan_compute(CPU, "auto", threads=1)
    assert auto.precision == "bf16"
    assert auto.for_network(depthwise).precision == "fp32"
    assert auto.for_network(create_model("model_1", PreprocessSpec(size=32))) is auto
    assert plan_compute(CPU, "bf16", threads=1).for_network(depthwise).precision == "bf16"  # asked for: kept
    # Prediction asks the same question, so a depthwise network predicts in the precision it trained in.
    seen = []
    depthwise[1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    network_predictor(depthwise, spec, name="d", compute=auto).predict_proba(
        np.zeros((2, 3, 16, 16), dtype=np.uint8))
    assert seen == [torch.float32]
    seen.clear()
    network_predictor(depthwise, spec, name="d", compute=plan_compute(CPU, "bf16", threads=1)).predict_proba(
        np.zeros((2, 3, 16, 16), dtype=np.uint8))
    assert seen == [torch.bfloat16]
