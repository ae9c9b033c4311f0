"""The seed article's Keras CNN on a MedMNIST .npz, timed per epoch with test AUC after every epoch.

Runs inside the TensorFlow virtual environment that `vs_keras.py` builds (it imports neither torch nor meddl) and
writes one JSON file. Layers, compile and fit settings are the seed's: Conv2D(32/64/128, 3x3, ReLU) each followed by
MaxPooling2D(2x2), Flatten, Dense(1024, ReLU), Dense(classes, softmax); Adam (Keras defaults), categorical
cross-entropy, accuracy metric, batch size 32, validation data given to fit. Adapted only in input shape (28x28x1)
and class count. Pixels are scaled to [0, 1], as the seed does.

The test-set AUC is computed by a callback after each epoch; its time is measured and left out of the training time.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("npz")
    parser.add_argument("output")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from sklearn.metrics import roc_auc_score

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.keras.utils.set_random_seed(args.seed)
    data = np.load(args.npz)
    x = {split: data[f"{split}_images"].astype("float32")[..., None] / 255.0 for split in ("train", "val", "test")}
    y = {split: data[f"{split}_labels"].reshape(-1).astype(int) for split in ("train", "val", "test")}
    classes = int(max(labels.max() for labels in y.values())) + 1
    one_hot = {split: tf.keras.utils.to_categorical(labels, classes) for split, labels in y.items()}

    layers = tf.keras.layers
    model = tf.keras.Sequential([
        layers.Input(shape=x["train"].shape[1:]),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(128, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    class TestAUC(tf.keras.callbacks.Callback):
        """Test AUC/ACC after each epoch; the seconds spent here are subtracted from the training time."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict] = []
            self.start = self.probe_seconds = 0.0

        def on_train_begin(self, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            probe_start = time.perf_counter()
            probs = self.model.predict(x["test"], batch_size=1024, verbose=0)
            auc = roc_auc_score(y["test"], probs[:, 1]) if classes == 2 else roc_auc_score(
                y["test"], probs, multi_class="ovr")
            acc = float((probs.argmax(axis=1) == y["test"]).mean())
            self.rows.append({"epoch": epoch + 1, "train_seconds": probe_start - self.start - self.probe_seconds,
                              "test_auc": float(auc), "test_acc": acc})
            self.probe_seconds += time.perf_counter() - probe_start

    probe = TestAUC()
    model.fit(x["train"], one_hot["train"], epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x["val"], one_hot["val"]), callbacks=[probe], verbose=0)
    result = {"framework": "keras", "tensorflow": tf.__version__, "threads": args.threads,
              "parameters": int(model.count_params()), "epochs": probe.rows}
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
