"""Language modelling: next-token prediction on PubMed abstracts, perplexity, and text generation."""

from meddl.tasks.base import register_task
from meddl.tasks.language_model.task import LanguageModelTask

register_task(LanguageModelTask())
