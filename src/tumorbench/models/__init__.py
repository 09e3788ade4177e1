"""Model registry: `list_models()`, `create_model(name)`, `get_model_entry(name)`."""

from tumorbench.models import seed_cnn, small_resnet, transfer  # noqa: F401  (registers the models)

# isort: split
from tumorbench.models import hog_svm  # noqa: F401  (after the networks, so `tumorbench models` lists it last)
from tumorbench.models._registry import (
    ModelEntry,
    create_model,
    get_model_entry,
    list_models,
    register_model,
)

__all__ = ["ModelEntry", "create_model", "get_model_entry", "list_models", "register_model"]
