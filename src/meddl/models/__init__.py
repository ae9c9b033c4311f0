"""What learns: one registry of models, one module per family."""

from meddl.models.registry import ModelInfo, create, list_models, register_model

__all__ = ["ModelInfo", "create", "list_models", "register_model"]
