"""Experiments over grids of trainings: the class-imbalance study."""

from tumorbench.study.imbalance import (
    imbalance_config,
    imbalance_section,
    run_imbalance_study,
    summarize_imbalance,
)

__all__ = ["imbalance_config", "imbalance_section", "run_imbalance_study", "summarize_imbalance"]
