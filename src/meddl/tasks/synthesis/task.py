"""GAN image synthesis as a `Task`: a (class-conditional) DCGAN fitted by the shared trainer with manual
optimisation, its run record and report after training, and quality evaluation (domain/Inception FID,
precision/recall, memorisation, TSTR and augmentation gain) for `evaluate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meddl.data.types import DatasetInfo, ImageSplits
from meddl.errors import ConfigError, DataError
from meddl.evaluate.results import RunResult
from meddl.tasks.base import DataRequest, FitPlan, PlanContext, RunContext
from meddl.tasks.synthesis.training import RUN_OUTPUTS, GanConfig


class SynthesisTask:
    name = "synthesis"
    described = "a GAN generator"
    default_for_data = False  # images are classified unless a GAN is asked for (`meddl gan train`)
    predicts_files = False
    outputs = RUN_OUTPUTS
    metric_keys = ("domain", "memorisation", "inception", "utility", "n_synthetic")

    def accepts(self, info: DatasetInfo) -> bool:
        return info.kind == "image"

    def make_config(self, dataset: str, preset: str | None = None, model: str | None = None, **options) -> GanConfig:
        if preset is not None or model is not None:
            raise ConfigError("the GAN has no presets or model choice; set its options (epochs, loss, width, ...)")
        known = set(GanConfig.__dataclass_fields__) - {"dataset"}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"unknown GAN option(s) {', '.join(sorted(unknown))}; expected some of "
                              f"{', '.join(f for f in GanConfig.__dataclass_fields__ if f != 'dataset')}")
        return GanConfig(dataset=dataset, **{k: v for k, v in options.items() if v is not None})

    def load_request(self, config: GanConfig) -> dict:
        return {"size": config.image_size, "seed": config.seed}

    def plan(self, config: GanConfig, data: ImageSplits, context: PlanContext) -> FitPlan:
        from meddl.data.tensors import ImageTensorDataset, make_loader
        from meddl.tasks.synthesis.module import GanModule
        from meddl.tasks.synthesis.training import monitor
        from meddl.training.trainer import FitSettings

        if data.info.spatial_dims == 3:
            raise DataError(f"{data.info.name} holds 3D volumes; the DCGAN makes 2D images")
        if data.info.task == "multi-label" and config.conditional:
            raise ConfigError(f"{data.info.name} is multi-label; a class-conditional GAN needs one class per image "
                              "(use --unconditional)")
        images, labels = data.images["train"], np.asarray(data.labels["train"]).reshape(len(data.images["train"]), -1)
        labels = labels[:, 0] if data.info.task != "multi-label" else np.zeros(len(images), dtype=np.int64)
        names = list(data.info.labels)
        frequencies = np.bincount(labels, minlength=len(names)) / len(labels)
        module = GanModule(
            dataset=config.dataset, labels=names, n_channels=data.info.n_channels, image_size=config.image_size,
            latent_dim=config.latent_dim, conditional=config.conditional, loss=config.loss,
            conditioning=config.conditioning, width=config.width, spectral_norm=config.spectral_norm,
            lr_g=config.lr_g, lr_d=config.lr_d, ema=config.ema, n_critic=config.n_critic,
            mode_seeking=config.mode_seeking, class_frequencies=frequencies.round(6).tolist(),
            data_dir=str(context.data_dir) if context.data_dir is not None else None,
        )
        loader = make_loader(ImageTensorDataset(images, labels), config.batch_size, shuffle=True, seed=config.seed)
        watcher = monitor(config, context.output_dir, images, labels, names)
        settings = FitSettings(task=self.name, epochs=config.epochs, precision=config.precision, select_best=False,
                               max_minutes=config.max_minutes)
        return FitPlan(module, loader, None, settings, callbacks=(watcher,), state={"monitor": watcher})

    def after_fit(self, plan: FitPlan, fit, config: GanConfig, data) -> dict:
        return {}

    def load(self, path: Path, raw: dict):
        from meddl.tasks.synthesis.sampling import generator_from_checkpoint

        return generator_from_checkpoint(raw)

    def data_request(self, bundle) -> DataRequest:
        return DataRequest(dataset=bundle.dataset, size=bundle.image_size, data_dir=bundle.hparams.get("data_dir"))

    def check_data(self, bundle, data) -> None:
        if data.info.kind != "image":
            raise DataError(f"{data.info.name} holds {data.info.kind} data; the generator makes images")
        if data.info.n_channels != bundle.n_channels or data.image_size != (bundle.image_size, bundle.image_size):
            raise DataError(f"{data.info.name}: {data.info.n_channels}-channel {data.image_size[0]}px images; the "
                            f"generator makes {bundle.n_channels}-channel {bundle.image_size}px ones")
        if bundle.conditional and list(data.info.labels) != list(bundle.labels):
            raise DataError(f"{data.info.name} has labels {list(data.info.labels)}; the generator was trained on "
                            f"{list(bundle.labels)}")

    def after_training(self, bundle, data, output_dir: Path, run: RunContext) -> RunResult:
        """`gan_run.json` and the report (real beside synthetic images, losses, collapse warnings)."""
        from meddl.tasks.synthesis.report import write_gan_report
        from meddl.tasks.synthesis.training import write_run_record

        config, fit = run.options["config"], run.options["fit"]
        record = write_run_record(config, run.options.get("data_dir"), data, fit, output_dir,
                                  run.options["monitor"].detector.summary(), run.resumed)
        report = write_gan_report(output_dir)
        return RunResult(record, {}, run.checkpoint, report, output_dir)

    def evaluate(self, bundle, data, output_dir: Path, run: RunContext) -> RunResult:
        from meddl.tasks.synthesis.evaluation import evaluate_generator

        self.check_data(bundle, data)
        metrics = evaluate_generator(bundle, data, Path(run.checkpoint), Path(output_dir),
                                     data_dir=bundle.hparams.get("data_dir"), seed=run.seed, **run.options)
        return RunResult(metrics, {}, run.checkpoint, Path(metrics["report"]) if metrics["report"] else None,
                         Path(output_dir))

    def predict(self, bundle, data, split: str) -> np.ndarray:
        """One generated image (uint8 N, H, W, C) for each sample of `split`, of that sample's class."""
        import torch

        from meddl.tasks.synthesis.sampling import to_uint8

        labels = np.asarray(data.labels[split]).reshape(data.size(split), -1)[:, 0]
        generator = torch.Generator().manual_seed(0)
        z = torch.randn(len(labels), bundle.latent_dim, generator=generator)
        with torch.no_grad():
            return to_uint8(bundle.net(z, torch.from_numpy(labels.astype(np.int64)) if bundle.conditional else None))

    def example_data(self, seed: int = 0) -> ImageSplits:
        from meddl.tasks.image.task import ImageTask

        return ImageTask().example_data(seed)

    def example_config(self, dataset: str) -> GanConfig:
        return self.make_config(dataset, epochs=1, batch_size=16, width=8, sample_every=1, max_minutes=None)

    def example_evaluation(self) -> dict:
        """Quality metrics only, with a one-epoch domain classifier: the utility arms train several more."""
        return {"n": 64, "tstr": False, "augmentation": False, "classifier_epochs": 1, "progress": False}
