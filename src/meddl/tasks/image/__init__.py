"""2D image classification (binary, multi-class, multi-label, ordinal): MedMNIST and the user's own images."""

from meddl.tasks.base import register_task
from meddl.tasks.image.task import ImageTask, load_classifier

register_task(ImageTask())

__all__ = ["ImageTask", "load_classifier"]
