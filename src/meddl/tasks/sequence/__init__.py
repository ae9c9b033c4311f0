"""Sequence classification: ECG beats (MIT-BIH, the user's WFDB records) and text passages (PubMedQA sections and
question answering, PubMed RCT)."""

from meddl.tasks.base import register_task
from meddl.tasks.sequence.task import SequenceTask

register_task(SequenceTask())
