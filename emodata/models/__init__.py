"""The model registry: one place that names every model and where its files come from."""

from emodata.models.registry import ModelError, Registry, model_path, models_dir, resolve

__all__ = ["ModelError", "Registry", "model_path", "models_dir", "resolve"]
