"""Models of a run repeated with other training seeds (`tumorbench run --seeds N`, the study's cells).

Replica k of a model trains with seed `run seed + k` (initialisation and data order) on the run's split
(fixed by the run seed) and lives in `models/<model>.seed<k>/`; seed 0 keeps the plain name, so a run
with `--seeds 1` is exactly the run without it. The report groups replicas back by name
(`tumorbench.evaluation.seeds`).
"""

from __future__ import annotations

from tumorbench.config import ModelConfig, RunConfig, make_config
from tumorbench.evaluation.seeds import replica_name


def model_cell(own: ModelConfig, *, name: str, seed: int, **changes) -> dict:
    """A model entry copied from `own` (its set values), renamed and re-seeded, with `changes`."""
    values = {key: value for key, value in vars(own).items() if value is not None}
    return {**values, "name": name, "architecture": own.architecture or own.name, "seed": seed, **changes}


def check_seeds(seeds: int) -> None:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"--seeds must be an integer of at least 1, got {seeds!r}")


def with_seed_replicas(base: RunConfig, seeds: int) -> RunConfig:
    """`base` with every model trained `seeds` times: the model itself, then `<model>.seed1`, ..."""
    check_seeds(seeds)
    if seeds == 1:
        return base
    models = []
    for own in base.models:
        for k in range(seeds):
            models.append(model_cell(own, name=replica_name(own.name, k),
                                     seed=(base.seed if own.seed is None else own.seed) + k))
    data = base.to_dict()
    data["models"] = models
    return make_config(data)
