"""What is being learned: one folder per model family, each behind the `Task` protocol (`meddl.tasks.base`).

`image` (2D classification, incl. multi-label and ordinal), `sequence` (ECG beats, text passages, question answering),
`language_model` and `synthesis` (the GAN). Each task owns its module, loss, metrics, report and prediction; the
model stays task-agnostic.
"""

from meddl.tasks.base import (DataRequest, FitPlan, PlanContext, RunContext, Task, get_task, list_tasks, load_model,
                              register_task, task_for, task_for_checkpoint)

__all__ = ["DataRequest", "FitPlan", "PlanContext", "RunContext", "Task", "get_task", "list_tasks", "load_model", "register_task",
           "task_for", "task_for_checkpoint"]
