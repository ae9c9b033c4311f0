"""The Lightning module for image classification: science only (model, loss, metrics, optimiser).

Devices, precision, checkpoints and distribution belong to the trainer. Batches arrive as uint8 images; they are
turned into normalised floats (and augmented, during training) on the device, one batch at a time. The recipe
options (an ensemble of members, EMA or SWA weights, label smoothing) live here; test-time augmentation is added
when a trained model is loaded (`meddl.tasks.image.task.ImageTask.load`).
"""

from __future__ import annotations


import numpy as np
import torch

from meddl.models import create
from meddl.models.ensemble import Ensemble, head_for
from meddl.tasks.image import outputs as classification
from meddl.tasks.image.augment import augment, policy_for
from meddl.training.distributed import gather
from meddl.training.scheduled import ScheduledModule

MEAN, STD = 0.5, 0.5  # images in [0, 1] are mapped to [-1, 1], as in MedMNIST's own pipeline
SELECTION_TIEBREAK = 1e-6  # far below any meaningful AUC difference


class ImageClassifier(ScheduledModule):
    """A registered model trained for one image classification task.

    The hyper-parameters saved with the checkpoint (labels, task, channels, size, normalisation) are all that
    `predict` and `export` need to use the model later without the dataset. `dp=True` builds the DP-SGD
    compatible variant of the architecture (GroupNorm for BatchNorm), so a private checkpoint rebuilds it on load;
    `privacy` then holds what the run spent (see `meddl.training.privacy`).

    `ensemble` K > 1 trains K members of `model` together (member k initialised as a run with seed `seed + k`
    would be, each with its own augmentation draws; the loss is the sum of theirs, so each learns as it would
    alone); the network's output is the logit of their mean probability. `weight_average` "ema" or "swa" keeps an
    averaged copy (`averaged`) that validation scores and model selection uses; loading a trained model folds it
    into `net` (`use_averaged_weights`), so what was selected is what is evaluated, exported and served.
    """

    def __init__(
        self,
        model: str,
        task: str,
        labels: list[str],
        in_channels: int,
        image_size: int,
        modality: str = "generic",
        dataset: str = "",
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "cosine",
        milestones: tuple[int, ...] = (),
        gamma: float = 0.1,
        epochs: int = 1,
        augment: bool = True,
        seed: int = 0,
        class_weights: list[float] | None = None,
        channels_last: bool = False,
        dp: bool = False,
        ensemble: int = 1,
        weight_average: str = "none",
        ema_decay: float = 0.999,
        swa_start: float = 0.75,
        tta: bool = False,
        label_smoothing: float = 0.0,
        spatial_dims: int = 2,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = self._build_net()
        if dp:
            from meddl.training.privacy import make_compatible

            self.net = make_compatible(self.net)
        self.privacy: dict | None = None
        if channels_last:
            self.net = self.net.to(memory_format=self._memory_format)
        self.averaged = None
        if weight_average != "none":
            from meddl.training.averaging import averaged_copy

            self.averaged = averaged_copy(self.net, weight_average, ema_decay)
        self.policy = policy_for(modality)
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _build_net(self):
        hp = self.hparams
        outputs = classification.n_outputs(hp.task, len(hp.labels))
        first = create(hp.model, hp.in_channels, outputs, image_size=hp.image_size)
        if hp.ensemble == 1:
            return first
        members = [first]
        for k in range(1, hp.ensemble):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(hp.seed + k)
                members.append(create(hp.model, hp.in_channels, outputs, image_size=hp.image_size))
        return Ensemble(members, head_for(hp.task))

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last_3d if self.hparams.spatial_dims == 3 else torch.channels_last

    def _formatted(self, images: torch.Tensor) -> torch.Tensor:
        return images.contiguous(memory_format=self._memory_format) if self.hparams.channels_last else images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for normalised float images (N, C, H, W), or volumes (N, C, D, H, W)."""
        return self.net(self._formatted(images))

    def _selected_net(self):
        """The network validation scores: the averaged one once it holds any weights."""
        if self.averaged is not None and int(self.averaged.n_averaged) > 0:
            return self.averaged.module
        return self.net

    def use_averaged_weights(self) -> None:
        """Make `net` the averaged network (if averaging ever started) and drop the copy: a loaded model is then
        exactly the one validation selected."""
        if self.averaged is not None and int(self.averaged.n_averaged) > 0:
            self.net.load_state_dict(self.averaged.module.state_dict())
        self.averaged = None

    def normalise(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return (images_uint8.float() / 255 - MEAN) / STD

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        images = images.float().div_(255)
        # an empty batch (Poisson sampling under DP-SGD) has nothing to augment
        training = self.trainer is not None and self.trainer.training
        if training and self.hparams.augment and len(images):
            # member k of an ensemble draws its own augmentation, as a run with seed `seed + k` would
            members = [self._augmented(images, self.hparams.seed + k) for k in range(self.hparams.ensemble)]
            self._batch_counter += 1
            if self.hparams.ensemble > 1:
                return [(view - MEAN) / STD for view in members], labels
            images = members[0]
        return (images - MEAN) / STD, labels

    def _augmented(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(
            seed * 1_000_003 + self.current_epoch * 10_007 + self._batch_counter
            + self.global_rank * 7_777_777  # each process augments its own shard differently
        )
        return augment(images, self.policy, generator)

    def on_train_epoch_start(self) -> None:
        self._batch_counter = 0
        super().on_train_epoch_start()

    def training_step(self, batch, batch_idx: int):
        # Dropout and any other global randomness depend only on (seed, epoch, batch): a resumed run repeats them
        # even though Lightning creates its data iterators at different moments when it restarts.
        self._seed_step(batch_idx)
        images, labels = batch
        hp = self.hparams
        if hp.ensemble > 1:
            views = images if isinstance(images, list) else [images] * hp.ensemble
            member_logits = [member(self._formatted(view)) for member, view in zip(self.net.members, views)]
        else:
            member_logits = [self(images)]
        if len(labels) == 0:
            # Poisson sampling (DP-SGD) can draw an empty batch; its step must still happen (noise only), so the
            # loss is a zero that keeps the graph, and there is nothing to log
            return member_logits[0].sum() * 0.0
        losses = [classification.loss(hp.task, logits, labels, self.class_weights, hp.label_smoothing)
                  for logits in member_logits]
        loss = torch.stack(losses).sum()  # each member's gradient is that of its own loss
        self.log("train_loss", loss / len(losses), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(labels), sync_dist=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        hp = self.hparams
        if self.averaged is None:
            return
        if hp.weight_average == "ema":
            self.averaged.update_parameters(self.net)
        # SWA: the weights at the end of each epoch from `swa_start` on (here, before that epoch's validation)
        elif batch_idx + 1 == self.trainer.num_training_batches and self.current_epoch >= int(hp.swa_start * hp.epochs):
            self.averaged.update_parameters(self.net)

    def validation_step(self, batch, batch_idx: int):
        images, labels = batch
        logits = self._selected_net()(self._formatted(images))
        loss = classification.loss(self.hparams.task, logits, labels, self.class_weights)
        self.log("val_loss", loss, on_epoch=True, prog_bar=False, batch_size=len(labels), sync_dist=True)
        self._val_outputs.append((classification.probabilities(self.hparams.task, logits).detach(), labels))

    def on_validation_epoch_end(self) -> None:
        from meddl.evaluate.metrics import compute_metrics

        probs = torch.cat([p for p, _ in self._val_outputs])
        labels = torch.cat([y for _, y in self._val_outputs])
        self._val_outputs.clear()
        probs, labels = gather(self, probs), gather(self, labels)
        metrics = compute_metrics(
            self.hparams.task, labels.cpu().numpy(), probs.float().cpu().numpy(), self.hparams.labels
        )
        auc = metrics["auc"] if metrics["auc"] is not None else float("nan")
        self.log("val_auc", float(auc), prog_bar=True, sync_dist=True)
        # Model selection: AUC, with ties (common at AUC 1.0 on easy sets) broken by accuracy.
        self.log("val_selection", float(auc) + SELECTION_TIEBREAK * float(metrics["acc"]), sync_dist=True)
        self.log("val_acc", float(metrics["acc"]), prog_bar=True, sync_dist=True)

    @torch.no_grad()
    def predict_proba(self, images_uint8: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Class probabilities for uint8 images (N, C, H, W) or volumes (N, C, D, H, W), in evaluation mode, on the
        module's device. Volumes go in batches of as many voxels as `batch_size` 28x28 images hold (16 volumes of
        28^3), so a 64^3 or larger volume does not multiply the memory by its depth."""
        self.eval()
        if images_uint8.ndim == 5:
            batch_size = max(1, batch_size * 28 * 28 // int(np.prod(images_uint8.shape[2:])))
        outputs = []
        for start in range(0, len(images_uint8), batch_size):
            chunk = images_uint8[start : start + batch_size].to(self.device)
            logits = self(self.normalise(chunk))
            outputs.append(classification.probabilities(self.hparams.task, logits).float().cpu())
        return torch.cat(outputs).numpy()
