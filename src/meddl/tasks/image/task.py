"""Image classification as a `Task`: a registered CNN trained on in-memory uint8 images, the decision threshold
tuned on validation data, MedMNIST's metrics with bootstrap intervals, the HTML report and file prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meddl.data.types import DatasetInfo, ImageSplits
from meddl.errors import ConfigError, DataError
from meddl.tasks.base import DataRequest, FitPlan, PlanContext, RunContext, SupervisedTask
from meddl.training.config import TrainConfig

CLASSIFICATION_TASKS = ("binary", "multi-class", "multi-label", "ordinal")  # as meddl.tasks.image.outputs.TASKS
RUN_OUTPUTS = ("checkpoints", "logs", "figures", "report.html", "metrics.json", "predictions_test.csv",
               "manifest.json")


class ImageTask(SupervisedTask):
    name = "image"
    described = "an image classifier"
    takes_image_recipe = True
    default_for_data = True
    predicts_files = True
    outputs = RUN_OUTPUTS
    metric_keys = ("auc", "acc", "balanced_accuracy", "macro_f1", "ece", "n", "per_class", "confusion_matrix",
                   "calibration", "roc", "ci")

    def accepts(self, info: DatasetInfo) -> bool:
        # the classification task types only: another image family (say, regression) is not this task's data
        return info.kind == "image" and info.task in CLASSIFICATION_TASKS

    def plan(self, config: TrainConfig, data: ImageSplits, context: PlanContext) -> FitPlan:
        from meddl.data.tensors import ImageTensorDataset, make_loader
        from meddl.tasks.image.module import ImageClassifier
        from meddl.training.trainer import FitSettings, class_weights, resolve_precision

        last = context.output_dir / "checkpoints" / "last.ckpt"
        if context.resume and last.is_file():
            from meddl.training.privacy import check_resume

            check_resume(last, config.dp)
        from meddl.models.registry import check_spatial_dims

        info = data.info
        check_spatial_dims(config.model, info.spatial_dims, info.name)
        if config.tta and info.spatial_dims == 3:
            raise ConfigError("tta: test-time augmentation is defined for 2D images; leave it out for volumes")
        if config.dp and info.spatial_dims == 3:
            raise ConfigError("--dp: differentially private training is built and tested for 2D images only; "
                              f"{info.name} holds 3D volumes")
        precision, channels_last = resolve_precision(config)
        if config.label_smoothing and info.task not in ("binary", "multi-class"):
            raise ConfigError(f"label_smoothing smooths softmax targets (binary, multi-class); {info.name}'s task type is "
                              f"{info.task}: leave it out")
        module = ImageClassifier(
            model=config.model, task=info.task, labels=list(info.labels), in_channels=info.n_channels,
            image_size=config.size, modality=info.modality, dataset=config.dataset, optimizer=config.optimizer,
            lr=config.lr, weight_decay=config.weight_decay, schedule=config.schedule,
            milestones=tuple(config.milestones), gamma=config.gamma, epochs=config.epochs, augment=config.augment,
            seed=config.seed,
            class_weights=class_weights(data.labels["train"], info.task, info.n_classes) if config.class_weights
            else None,
            channels_last=channels_last, dp=config.dp, ensemble=config.ensemble,
            weight_average=config.weight_average, ema_decay=config.ema_decay, swa_start=config.swa_start,
            tta=config.tta, label_smoothing=config.label_smoothing, spatial_dims=info.spatial_dims,
        )
        train_loader = make_loader(ImageTensorDataset(data.images["train"], data.labels["train"]),
                                   config.batch_size, shuffle=True, seed=config.seed, num_workers=config.num_workers)
        val_loader = make_loader(ImageTensorDataset(data.images["val"], data.labels["val"]),
                                 max(config.batch_size, 256), shuffle=False)
        privacy = None
        if config.dp:
            from meddl.training.privacy import DifferentialPrivacy, check_trainable

            check_trainable(module.net, config.model, info.n_channels, config.size)
            privacy = DifferentialPrivacy(config, train_loader)
            train_loader = privacy.loader
        settings = FitSettings.from_config(self.name, config, precision=precision, channels_last=channels_last)
        return FitPlan(module, train_loader, val_loader, settings, callbacks=(privacy,) if privacy else (),
                       state={"privacy": privacy})

    def after_fit(self, plan: FitPlan, fit, config: TrainConfig, data: ImageSplits) -> dict:
        """The DP-SGD record (into best.ckpt too), the training images' statistics (predict's input guards) and the
        decision threshold tuned on validation data."""
        from meddl.evaluate.thresholds import THRESHOLD_TASKS, method_name, tune_thresholds
        from meddl.guards import input_statistics
        from meddl.tasks.image.evaluation import predict_split

        privacy = plan.state.get("privacy")
        if privacy is not None and fit.best_checkpoint != fit.last_checkpoint:
            from meddl.training.privacy import record_final

            record_final(fit.best_checkpoint, privacy.summary())
        entries = {"input_stats": input_statistics(data.images["train"])}
        if data.info.task in THRESHOLD_TASKS and len(data.images.get("val", ())):
            from meddl.tasks.base import load_model

            _, module = load_model(fit.best_checkpoint)
            val_prob = predict_split(module, data.images["val"])
            entries["threshold"] = tune_thresholds(data.info.task, data.labels["val"], val_prob,
                                                   config.target_sensitivity)
            entries["threshold_method"] = method_name(config.target_sensitivity)
        return entries

    def load(self, path: Path, raw: dict):
        """The `ImageClassifier`, in evaluation mode on the CPU, with `privacy` (the DP-SGD record or None),
        `threshold` (tuned on validation; None: 0.5), `threshold_method` and `input_stats` (predict's guards).
        Its `net` is the deployable network: EMA/SWA weights folded in, and test-time augmentation around it when
        the model was trained with `tta`, so prediction, export and serving all compute the same thing."""
        from meddl.models.ensemble import head_for
        from meddl.tasks.image.module import ImageClassifier
        from meddl.tasks.image.tta import ViewAverage, views_for

        model = ImageClassifier(**raw.get("hyper_parameters", {}))
        model.load_state_dict(raw["state_dict"])
        model.use_averaged_weights()
        if model.hparams.tta:
            model.net = ViewAverage(model.net, views_for(model.policy), head_for(model.hparams.task))
        model.privacy = raw.get("privacy")
        model.threshold = raw.get("threshold")
        model.threshold_method = raw.get("threshold_method")
        model.input_stats = raw.get("input_stats")
        model.evaluation = raw.get("evaluation")
        return model.eval()

    def data_request(self, module) -> DataRequest:
        hp = module.hparams
        return DataRequest(dataset=hp.dataset, size=hp.image_size, seed=hp.seed)

    def check_data(self, module, data) -> None:
        from meddl.tasks.image.evaluation import check_compatible

        check_compatible(module, data)

    def after_training(self, module, data: ImageSplits, output_dir: Path, run: RunContext):
        """The test evaluation, whose summary (at 0.5 and at the deployed threshold) then travels inside the
        checkpoint: a copied or served model keeps its model card without the run folder."""
        from meddl.evaluate.results import card_metrics
        from meddl.training.checkpoints import annotate_checkpoint

        result = self.evaluate(module, data, output_dir, run)
        annotate_checkpoint(run.checkpoint, evaluation=card_metrics(result.metrics, run.split))
        return result

    def evaluate(self, module, data: ImageSplits, output_dir: Path, run: RunContext):
        from meddl.tasks.image.evaluation import evaluate_module

        self.check_data(module, data)
        if run.split not in data.images:
            raise DataError(f"{data.info.name}: no split {run.split!r}; expected one of {sorted(data.images)}")
        return evaluate_module(module, data, output_dir, checkpoint=run.checkpoint, config=run.config,
                               history=run.history, started_at=run.started_at, best_epoch=run.best_epoch,
                               extra=run.extra, split=run.split, n_bootstrap=run.n_bootstrap, seed=run.seed)

    def predict(self, module, data: ImageSplits, split: str) -> np.ndarray:
        from meddl.tasks.image.evaluation import predict_split

        return predict_split(module, data.images[split])

    def predict_files(self, module, files: list[Path], strict: bool = False) -> list:
        from meddl.inference import predict_files

        if module.hparams.get("spatial_dims", 2) == 3:
            raise ConfigError(f"{module.hparams.model} classifies 3D volumes; predicting from image files is for 2D "
                              "models so far (evaluate volumes with `meddl evaluate`)")
        return predict_files(module, files, strict=strict)

    def example_data(self, seed: int = 0) -> ImageSplits:
        """Grey 28x28 noise; the positive class carries a bright square, so a model can learn it in one epoch."""
        rng = np.random.default_rng(seed)
        images, labels = {}, {}
        for split, n in (("train", 96), ("val", 32), ("test", 32)):
            y = np.arange(n) % 2
            x = rng.integers(0, 120, size=(n, 28, 28, 1), dtype=np.uint8)
            x[y == 1, 8:20, 8:20] = 230
            images[split], labels[split] = x, y.astype(np.int64)
        info = DatasetInfo(name="example-images", task="binary", n_channels=1, labels=("clear", "marked"),
                           splits={s: len(y) for s, y in labels.items()}, license="synthetic")
        return ImageSplits(info=info, images=images, labels=labels)

    def example_config(self, dataset: str) -> TrainConfig:
        return self.make_config(dataset, epochs=1, batch_size=32, bootstrap=20)



def load_classifier(path: str | Path):
    """The `ImageClassifier` in a meddl checkpoint (see `ImageTask.load`); a MeddlError for any other checkpoint."""
    from meddl.tasks.base import load_model

    return load_model(path, ("image",), "this command")[1]
