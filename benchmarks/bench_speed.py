"""Training and inference speed of tumorbench against the seed's TensorFlow-Keras stack, same CPU.

    pip install 'tumorbench[bench]'      # tensorflow-cpu: for this benchmark only, never for tumorbench
    python benchmarks/bench_speed.py     # the table of the README's Performance section
    python benchmarks/bench_speed.py --quick     # 2 steps, 2 repeats, throughput only (a few minutes)

What it measures, each part in its own processes so that no framework's threads or settings leak
into the other's, repeats interleaved (tumorbench, TF, tumorbench, TF, ...) so each ratio is taken
side by side, medians printed:

1. Training: the seed's Model 1 network (Conv 32-64-pool-128-128-pool, Dense 64, Dropout 0.2),
   batch 32, Adam, grayscale, `--steps` steps at each of `--sizes`; tumorbench through its own
   training code (`train_one_epoch`, what `tumorbench run` calls each epoch) and TF-Keras through
   `model.fit` with sparse categorical cross-entropy, each after one warm-up pass. Both sides get the
   same images already in memory as numpy arrays (TF-Keras as float32 in [0, 1], its usual input;
   tumorbench as the uint8 arrays it keeps, scaled per batch by its own code). Images per second.
2. Inference: the same networks over the same images: tumorbench's `predict_proba`, Keras'
   `model.predict` (each with its default batch size).
3. `tumorbench run` on the embedded default (no options), end to end: wall time and peak RSS, with a
   warm dataset and audit cache (first-use generation is shown apart); `--compare-src DIR` runs
   another checkout's code the same way, side by side (e.g. the main branch before a change).
4. Decoding and preprocessing every image of `--data` (default: the Sartaj dataset beside the project,
   else the embedded one) at `--decode-size` px: first time, and from the array cache.

Both sides use `--threads` intra-op threads (default: every CPU this process may use; TF's inter-op
pool keeps its default). TensorFlow is not a tumorbench requirement: without it the TF columns say
how to install it. `--accuracy` instead trains the same recipe in each of `--accuracy-arms` on `--data`
(tumorbench in bf16 and in fp32, and TF-Keras) and compares validation macro-F1 per seed (slow: about
15 s per epoch at 128 px for tumorbench in bf16 on 2 cores, several times that for TF-Keras).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SARTAJ = HERE.parents[1] / "shared" / "datasets" / "sartaj"
BATCH = 32
TF_MISSING = "TensorFlow not installed: pip install 'tumorbench[bench]' (tensorflow-cpu) for the TF-Keras columns"


# --------------------------------------------------------------------------------------------------
# Workers: one process per measurement


def _seed_images(data: Path, size: int, n: int):
    """n grayscale images of `data` at `size` px (uint8, N x 1 x S x S) and their labels, cycled."""
    import numpy as np

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.data.cache import load_images_cached
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.preprocess import PreprocessSpec

    records = scan_dataset(data).records("train")
    rng = np.random.default_rng(0)
    chosen = [records[i] for i in rng.permutation(len(records))[:n]]
    x, ok, _ = load_images_cached(data, [r.path for r in chosen], PreprocessSpec(size=size))
    y = np.array([CLASS_NAMES.index(chosen[i].label) for i in ok], dtype=np.int64)
    reps = -(-n // len(x))
    return np.concatenate([np.asarray(x)] * reps)[:n], np.concatenate([y] * reps)[:n]


def worker_torch(args) -> dict:
    import numpy as np
    import torch

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.config import make_config, resolve_model
    from tumorbench.data.arrays import ImageArrays
    from tumorbench.inference.compute import plan_compute
    from tumorbench.inference.predictor import network_predictor
    from tumorbench.training.fit import build_network, make_optimizer, micro_batch_size, train_one_epoch
    from tumorbench.training.losses import make_loss

    x, y = np.load(args.images), np.load(args.labels)
    config = make_config({"image_size": args.size, "train": {"batch_size": BATCH}, "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    compute = plan_compute(torch.device("cpu"), args.precision, threads=args.threads)
    if args.layout in ("nchw", "cl"):  # one layout for training and evaluation
        from dataclasses import replace
        compute = replace(compute, channels_last=args.layout == "cl", train_channels_last=args.layout == "cl")
    compute.apply()
    training = compute.training()
    torch.manual_seed(0)
    net, phases, _, _ = build_network(rm)
    training.prepare_model(net)
    phase = phases[0]
    if args.compile:
        # torch.compile (inductor): the first steps compile; the warm-up epoch below absorbs that time,
        # which is reported apart so the steady-state figure and the cost of getting there both show.
        phase.trainable = torch.compile(phase.trainable)
    loss_fn, _ = make_loss("none", y, len(CLASS_NAMES))
    optimizer = make_optimizer(list(net.parameters()), rm, lr=1e-3)  # as fit() makes it (fused Adam)
    rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)

    data = ImageArrays(torch.from_numpy(x), torch.from_numpy(y), [str(i) for i in range(len(x))])
    # As fit() does: micro-batches where a batch's activations would exceed the memory budget (256 px).
    micro = micro_batch_size(phase, rm.preprocess.to_tensor(training.to_input(data.x[:2])), BATCH, training)

    def epoch(data: ImageArrays) -> float:
        started = time.perf_counter()
        train_one_epoch(phase, data, None, loss_fn=loss_fn, optimizer=optimizer, rm=rm, rng=rng,
                        generator=generator, compute=training, desc="bench", micro_batch=micro)
        return time.perf_counter() - started

    warm = ImageArrays(data.x[:2 * BATCH], data.y[:2 * BATCH], data.paths[:2 * BATCH])
    warm_s = epoch(warm)
    train_s = epoch(data)
    predictor = network_predictor(net, rm.preprocess, name="bench", compute=compute)
    predictor.predict_proba(warm.x)
    started = time.perf_counter()
    predictor.predict_proba(data.x)
    infer_s = time.perf_counter() - started
    setup = compute.describe() + (f", micro-batches of {micro}" if micro < BATCH else "")
    if args.compile:
        setup += f", torch.compile (warm-up incl. compiling {warm_s:.0f} s)"
    return {"train_ips": len(x) / train_s, "infer_ips": len(x) / infer_s, "setup": setup}


def _keras_model_1(size: int):
    """The seed notebook's Model 1 in Keras, compiled as the notebook did (sparse labels here)."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input((size, size, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(128, 3, activation="relu"), layers.Conv2D(128, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dropout(0.2),
        layers.Dense(4, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def worker_tf(args) -> dict:
    os.environ["KERAS_BACKEND"] = "tensorflow"  # Keras 3 may be set up for torch in this environment
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    try:
        import tensorflow as tf
    except ImportError:
        return {"missing": TF_MISSING}
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    x = (np.load(args.images).transpose(0, 2, 3, 1).astype("float32") / 255.0)  # NHWC in [0, 1]
    y = np.load(args.labels)
    model = _keras_model_1(args.size)
    model.fit(x[:2 * BATCH], y[:2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # traces the graph
    started = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    train_s = time.perf_counter() - started
    model.predict(x[:2 * BATCH], verbose=0)
    started = time.perf_counter()
    model.predict(x, verbose=0)
    infer_s = time.perf_counter() - started
    return {"train_ips": len(x) / train_s, "infer_ips": len(x) / infer_s,
            "setup": f"tensorflow {tf.__version__}, keras {keras.__version__}, {args.threads} intra-op threads"}


# --------------------------------------------------------------------------------------------------
# Orchestration


def machine() -> dict:
    from tumorbench.inference.compute import available_cpus, cpu_flags, cpu_has_native_bf16

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else 0
    bf16 = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx512_bf16", "amx_bf16"))
    return {"cpu": model, "cpus": available_cpus(), "isa": " ".join(isa) or "n/a", "memory_gb": round(mem, 1),
            "bf16": bf16 + ("" if cpu_has_native_bf16() else " (tumorbench trains in fp32 here)"),
            "python": platform.python_version(), "platform": platform.platform()}


def _run_child(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS in MB of that process, return code, stdout+stderr tail)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        log.seek(0)
        tail = log.read()[-3000:]
    return wall, usage.ru_maxrss // 1024, proc.returncode, tail


def _worker(kind: str, size: int, images: Path, labels: Path, args, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--size", str(size), "--images", str(images),
           "--labels", str(labels), "--threads", str(args.threads), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    _, rss, code, tail = _run_child(cmd, env=env)
    if code != 0:
        raise SystemExit(f"{kind} worker failed at {size} px:\n{tail}")
    result = json.loads(tail.strip().splitlines()[-1])
    result["rss_mb"] = rss
    return result


def _load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def bench_throughput(args, data: Path, tmp: Path) -> None:
    import numpy as np

    variants = [v for v in args.torch_variants.split(",") if v]
    print(f"\n## Model 1, batch {BATCH}, {args.steps} steps, {args.threads} threads, median of {args.repeats} "
          f"(repeats interleaved)\n")
    n = args.steps * BATCH
    print(f"s/epoch: seconds per epoch of {n} images (training) and over the same {n} images (inference); "
          "ratio: TF-Keras seconds / tumorbench seconds, the median of the interleaved pairs\n")
    print("| size | side | setup | train s/epoch | infer s/epoch | train img/s | infer img/s | train vs TF | "
          "infer vs TF | peak RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    tf_missing = False
    for size in (int(s) for s in args.sizes.split(",")):
        x, y = _seed_images(data, size, args.steps * BATCH)
        images, labels = tmp / f"x{size}.npy", tmp / f"y{size}.npy"
        np.save(images, x)
        np.save(labels, y)
        runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):
            for variant in variants:
                base, compiled = variant.removesuffix("+compile"), variant.endswith("+compile")
                layout, precision = base.split("-") if "-" in base else ("auto", base)
                extra = ["--layout", layout if layout in ("nchw", "cl") else "auto", "--precision", precision,
                         *(["--compile"] if compiled else [])]
                runs.setdefault(f"tumorbench {variant}", []).append(_worker("torch", size, images, labels, args, extra))
            if not args.no_tf:
                runs.setdefault("tf-keras", []).append(_worker("tf", size, images, labels, args))
        tf = runs.get("tf-keras")
        tf_ok = tf is not None and "missing" not in tf[0]
        tf_missing = tf_missing or (tf is not None and not tf_ok)
        for side, results in runs.items():
            if "missing" in results[0]:
                print(f"| {size} | {side} | {results[0]['missing']} | | | | | | | |")
                continue
            train = statistics.median(r["train_ips"] for r in results)
            infer = statistics.median(r["infer_ips"] for r in results)
            ratio_t = ratio_i = ""
            if tf_ok and side != "tf-keras":
                # Ratio of each interleaved pair, then the median: side by side, not across loads.
                ratio_t = f"{statistics.median(a['train_ips'] / b['train_ips'] for a, b in zip(results, tf)):.2f}x"
                ratio_i = f"{statistics.median(a['infer_ips'] / b['infer_ips'] for a, b in zip(results, tf)):.2f}x"
            rss = max(r["rss_mb"] for r in results)
            print(f"| {size} | {side} | {results[0]['setup']} | {n / train:.2f} | {n / infer:.2f} | {train:.1f} | "
                  f"{infer:.1f} | {ratio_t} | {ratio_i} | {rss} |", flush=True)
    if tf_missing:
        print(f"\n{TF_MISSING}")


def bench_run(args) -> None:
    """`tumorbench run` (no options) on the embedded dataset, warm caches, wall time and peak RSS."""
    print("\n## `tumorbench run` on the embedded default, end to end (warm dataset, audit and array caches)\n")
    sources = [("this checkout", HERE.parent / "src")] + [(f"compare {p}", Path(p)) for p in args.compare_src]
    print("| code | repeat | wall s | peak RSS MB | test accuracy per model |")
    print("|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.run_repeats):
            for label, src in sources:
                env = {**os.environ, "PYTHONPATH": str(src), "TUMORBENCH_OFFLINE": "1"}
                out = Path(tmp) / f"run-{repeat}-{abs(hash(label))}"
                if repeat == 0 and label == "this checkout":  # first use: dataset generation, audit, decoding
                    _run_child([sys.executable, "-c",
                                "from tumorbench.data.synthetic import ensure_default_dataset as e; e()"], env=env)
                wall, rss, code, tail = _run_child([sys.executable, "-m", "tumorbench.cli", "run", "--out", str(out)],
                                                   env=env, cwd=tmp)
                if code != 0:
                    raise SystemExit(f"tumorbench run failed ({label}):\n{tail}")
                accuracies = _summary(tail)
                print(f"| {label} | {repeat + 1} | {wall:.1f} | {rss} | {accuracies} |", flush=True)


def _summary(log_tail: str) -> str:
    """'baseline 0.52, model_1 0.61, ...' from the summary table that `tumorbench run` prints."""
    parts = []
    for line in log_tail.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in ("baseline", "model_1", "model_2", "model_3"):
            try:
                parts.append(f"{fields[0]} {float(fields[1]):.3f}")
            except ValueError:
                continue
    return ", ".join(parts)


def bench_decode(args, data: Path) -> None:
    import numpy as np

    from tumorbench.data.cache import load_images_cached
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.preprocess import PreprocessSpec

    index = scan_dataset(data)
    paths = [r.path for split in index.splits.values() for r in split]
    spec = PreprocessSpec(size=args.decode_size)
    print(f"\n## Decoding and resizing {len(paths)} images of {data} to {spec.size} px {spec.mode}\n")
    print("| step | seconds |")
    print("|---|---:|")
    with tempfile.TemporaryDirectory() as cache:
        for label in ("first time (decode, resize, write the cache)",
                      "from the cache (memory-mapped, every page read)"):
            started = time.perf_counter()
            x, ok, bad = load_images_cached(data, paths, spec, cache_dir=cache)
            int(np.asarray(x, dtype=np.uint8).sum(dtype=np.int64))  # touch every byte: no lazy-map flattery
            print(f"| {label} | {time.perf_counter() - started:.2f} |", flush=True)


def bench_accuracy(args, data: Path) -> None:
    """The same recipe (model_1, batch 32, Adam 1e-3, best epoch on val accuracy) in each arm of
    `--accuracy-arms`: tumorbench at a precision (bf16, fp32, auto) or TF-Keras (tf), then the mean and
    sd of every arm over the seeds and the mean difference of each arm from the first."""
    arms = [a.strip() for a in args.accuracy_arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ("tf", "auto", "bf16", "fp32")]
    if unknown or not arms:
        raise SystemExit(f"--accuracy-arms: unknown arm(s) {', '.join(unknown) or '(none)'}; "
                         "valid: bf16, fp32, auto, tf")
    cmd_common = ["--size", str(args.accuracy_size), "--data", str(data), "--threads", str(args.threads),
                  "--epochs", str(args.accuracy_epochs)]
    names = {a: "TF-Keras fp32" if a == "tf" else f"tumorbench {a}" for a in arms}
    print(f"\n## Validation macro-F1, model_1 at {args.accuracy_size} px, {args.accuracy_epochs} epochs, "
          f"best epoch on validation accuracy, data {data}\n")
    print("| seed | " + " | ".join(f"{names[a]} macro-F1" for a in arms)
          + "".join(f" | {names[a]} - {names[arms[0]]} (points)" for a in arms[1:])
          + " | " + " | ".join(f"{names[a]} s" for a in arms) + " |")
    print("|---:|" + "---:|" * (3 * len(arms) - 1))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    scores: dict[str, list[float]] = {a: [] for a in arms}
    for seed in range(args.accuracy_first_seed, args.accuracy_first_seed + args.accuracy_seeds):
        res = {}
        for arm in arms:
            kind = ["--worker", "acc-tf"] if arm == "tf" else ["--worker", "acc-torch", "--precision", arm]
            _, _, code, tail = _run_child([sys.executable, __file__, *kind, "--seed", str(seed), *cmd_common], env=env)
            if code != 0:
                raise SystemExit(f"{names[arm]} failed at seed {seed}:\n{tail}")
            res[arm] = json.loads(tail.strip().splitlines()[-1])
            if "missing" in res[arm]:
                raise SystemExit(res[arm]["missing"])
            scores[arm].append(res[arm]["macro_f1"])
        first = res[arms[0]]["macro_f1"]
        print(f"| {seed} | " + " | ".join(f"{res[a]['macro_f1']:.4f}" for a in arms)
              + "".join(f" | {100 * (res[a]['macro_f1'] - first):+.1f}" for a in arms[1:])
              + " | " + " | ".join(f"{res[a]['seconds']:.0f}" for a in arms) + " |", flush=True)
    print("\n" + "; ".join(f"{names[a]} {statistics.mean(v):.4f} +- {statistics.stdev(v) if len(v) > 1 else 0:.4f}"
                           for a, v in scores.items()))
    for arm in arms[1:]:
        diffs = [100 * (b - a) for a, b in zip(scores[arms[0]], scores[arm])]
        print(f"{names[arm]} - {names[arms[0]]}: mean {statistics.mean(diffs):+.2f} points "
              f"(per seed {', '.join(f'{d:+.1f}' for d in diffs)})")


def _accuracy_split(data: Path, size: int, seed: int):
    """Train/validation arrays as `tumorbench run` splits Training (stratified 20 %, split seed 0)."""
    import numpy as np

    from tumorbench.classes import CLASS_NAMES
    from tumorbench.data.cache import load_images_cached
    from tumorbench.data.folder import scan_dataset
    from tumorbench.data.preprocess import PreprocessSpec
    from tumorbench.data.split import stratified_split

    train, val = stratified_split(scan_dataset(data).records("train"), fraction=0.2, seed=0)
    out = []
    for recs in (train, val):
        x, ok, _ = load_images_cached(data, [r.path for r in recs], PreprocessSpec(size=size))
        out.append((np.asarray(x), np.array([CLASS_NAMES.index(recs[i].label) for i in ok])))
    return out


def worker_acc_torch(args) -> dict:
    import torch
    from sklearn.metrics import f1_score

    from tumorbench.config import make_config, resolve_model
    from tumorbench.data.arrays import ImageArrays
    from tumorbench.inference.compute import plan_compute
    from tumorbench.inference.predictor import network_predictor
    from tumorbench.training.fit import fit

    (xt, yt), (xv, yv) = _accuracy_split(args.data, args.size, args.seed)
    config = make_config({"image_size": args.size, "seed": args.seed, "train": {"epochs": args.epochs},
                          "models": ["model_1"]})
    rm = resolve_model(config.models[0], config)
    compute = plan_compute(torch.device("cpu"), args.precision, threads=args.threads)
    compute.apply()
    train = ImageArrays(torch.from_numpy(xt), torch.from_numpy(yt), [""] * len(xt))
    val = ImageArrays(torch.from_numpy(xv), torch.from_numpy(yv), [""] * len(xv))
    started = time.perf_counter()
    result = fit(rm, train, val, device=compute.device, compute=compute)
    seconds = time.perf_counter() - started
    pred = network_predictor(result.model, rm.preprocess, name="bench", compute=compute).predict_proba(val.x).argmax(1)
    return {"macro_f1": float(f1_score(yv, pred, average="macro")), "seconds": seconds,
            "best_epoch": result.best_epoch, "setup": compute.describe()}


def worker_acc_tf(args) -> dict:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        return {"missing": TF_MISSING}
    import keras
    from sklearn.metrics import f1_score

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    (xt, yt), (xv, yv) = _accuracy_split(args.data, args.size, args.seed)
    xt, xv = (a.transpose(0, 2, 3, 1).astype("float32") / 255.0 for a in (xt, xv))
    model = _keras_model_1(args.size)
    best = keras.callbacks.ModelCheckpoint(str(Path(tempfile.mkdtemp()) / "best.weights.h5"), monitor="val_accuracy",
                                           save_best_only=True, save_weights_only=True)
    started = time.perf_counter()
    model.fit(xt, yt, batch_size=BATCH, epochs=args.epochs, validation_data=(xv, yv), callbacks=[best], verbose=0)
    seconds = time.perf_counter() - started
    model.load_weights(best.filepath)
    pred = model.predict(xv, verbose=0).argmax(1)
    return {"macro_f1": float(f1_score(yv, pred, average="macro")), "seconds": seconds}


WORKERS = {"torch": worker_torch, "tf": worker_tf, "acc-torch": worker_acc_torch, "acc-tf": worker_acc_tf}


def main() -> None:
    from tumorbench.inference.compute import available_cpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256", help="Image sides to train at (default: 128,256).")
    parser.add_argument("--steps", type=int, default=8, help="Timed training steps of batch 32 per measurement.")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved repeats per side; medians are printed.")
    parser.add_argument("--threads", type=int, default=available_cpus(), help="Intra-op threads of both sides.")
    parser.add_argument("--torch-variants", default="auto",
                        help="tumorbench settings to time, comma-separated: auto (its default), fp32, bf16, "
                             "nchw-fp32 (PyTorch's default NCHW layout throughout), cl-fp32 (channels-last "
                             "throughout), ...; a +compile suffix adds torch.compile, e.g. auto+compile")
    parser.add_argument("--no-tf", action="store_true", help="Leave TF-Keras out.")
    parser.add_argument("--quick", action="store_true", help="A quick look: 2 steps, 2 repeats, throughput only.")
    parser.add_argument("--data", type=Path, help="Dataset for the images and the decode timing (default: the "
                        "Sartaj dataset beside the project when present, else the embedded dataset).")
    parser.add_argument("--decode-size", type=int, default=256)
    parser.add_argument("--skip", default="", help="Parts to leave out, comma-separated: throughput, run, decode.")
    parser.add_argument("--run-repeats", type=int, default=1, help="Repeats of the end-to-end `tumorbench run`.")
    parser.add_argument("--compare-src", action="append", default=[], metavar="DIR",
                        help="Another checkout's src/ folder to time `tumorbench run` with, side by side.")
    parser.add_argument("--accuracy", action="store_true", help="Only the accuracy comparison (slow).")
    parser.add_argument("--accuracy-size", type=int, default=128)
    parser.add_argument("--accuracy-epochs", type=int, default=6)
    parser.add_argument("--accuracy-seeds", type=int, default=1,
                        help="Seeds (initialisation, data order) to compare; the split is always seed 0's, as "
                             "`tumorbench run` makes it, so the arms are paired on the same validation images.")
    parser.add_argument("--accuracy-arms", default="bf16,fp32,tf",
                        help="What --accuracy trains, comma-separated: tumorbench at bf16, fp32 or auto, and "
                             "tf (TF-Keras); differences are taken from the first (default: bf16,fp32,tf).")
    parser.add_argument("--accuracy-first-seed", type=int, default=0, help="The first of those seeds.")
    # Worker-process arguments (internal)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--images", help=argparse.SUPPRESS)
    parser.add_argument("--labels", help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = min(args.steps, 2), min(args.repeats, 2)
        args.skip = ",".join(filter(None, [args.skip, "run", "decode"]))
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    os.environ.setdefault("TUMORBENCH_OFFLINE", "1")
    if args.data is None:
        if SARTAJ.is_dir():
            args.data = SARTAJ
        else:
            from tumorbench.data.synthetic import ensure_default_dataset
            args.data = ensure_default_dataset()
            print(f"note: no Sartaj dataset at {SARTAJ}: the embedded synthetic dataset is used (pass --data)")
    info = machine()
    print(f"machine: {info['cpu']}, {info['cpus']} CPUs available ({info['isa']}), {info['memory_gb']} GB; "
          f"Python {info['python']}, {info['platform']}")
    print(f"bfloat16 in hardware: {info['bf16']}")
    import torch
    print(f"torch {torch.__version__}; load average at start {_load()}")
    skip = set(args.skip.split(","))
    if args.accuracy:
        bench_accuracy(args, args.data)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            if "throughput" not in skip:
                bench_throughput(args, args.data, Path(tmp))
        if "run" not in skip:
            bench_run(args)
        if "decode" not in skip:
            bench_decode(args, args.data)
    print(f"\nload average at end {_load()}")


if __name__ == "__main__":
    main()
