"""The validation split's settings (`tumorbench.data.split` applies them). A light module: the config
reads it without importing scikit-learn."""

from __future__ import annotations

VAL_GROUPS = ("none", "cluster")  # a random stratified validation, or held-out appearance clusters
