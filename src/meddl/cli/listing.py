"""`meddl datasets` and `meddl models`: what the registries hold."""

from __future__ import annotations

from meddl.cli.common import Subparsers, table


def cmd_datasets(args) -> None:
    from meddl.api import list_datasets

    rows = [info.table_row() for info in list_datasets()]
    print(table(rows, ["name", "kind", "task", "classes", "channels", "sizes", "train/val/test", "license",
                       "modality"]))
    print("\nAlso, given as a path: a folder of class sub-folders or a CSV of path,label (images), a MedMNIST-layout "
          ".npz, a folder of WFDB records (*.hea/*.dat/*.atr), or PubMed RCT text (train.txt/dev.txt/test.txt).")


def cmd_models(args) -> None:
    from meddl.api import list_models

    rows = [[m.name, m.family, m.input_size, m.cam_layer or "-", m.description] for m in list_models()]
    print(table(rows, ["name", "family", "input size", "grad-cam layer", "description"]))


def register(commands: Subparsers) -> None:
    commands.add_parser("datasets", help="list registered datasets").set_defaults(run=cmd_datasets)
    commands.add_parser("models", help="list registered models").set_defaults(run=cmd_models)
