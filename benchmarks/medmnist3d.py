"""MedMNIST 3D benchmark: train meddl on every MedMNIST 3D dataset present locally, once per seed, at 28^3 or 64^3,
and set its test AUC/ACC (mean ± sd over the seeds, with 95% bootstrap intervals) beside every column of the
MedMNIST v2 3D table (ResNet-18/50 with 2.5D, 3D and ACS convolutions; auto-sklearn; AutoKeras), with the gap to
the best published figure and the time per seed. Everything but the datasets and the table is benchmarks/medmnist.py.

    .venv/bin/python benchmarks/medmnist3d.py --seeds 0,1,2                          # every 3D set at 28^3
    .venv/bin/python benchmarks/medmnist3d.py --datasets adrenalmnist3d --size 64 --seeds 0,1,2
    .venv/bin/python benchmarks/medmnist3d.py --datasets adrenalmnist3d --epochs 1   # a smoke test

Run folders go to <output>/medmnist/<dataset>/size-N/seed-N/, the table to <output>/medmnist3d.{json,md}.
"""

from __future__ import annotations

import sys

from _common import BENCHMARKS
from medmnist import Spec, main

SHORT_3D = {"resnet18_25d": "R18 2.5D", "resnet18_3d": "R18 3D", "resnet18_acs": "R18 ACS", "resnet50_25d": "R50 2.5D",
            "resnet50_3d": "R50 3D", "resnet50_acs": "R50 ACS", "auto_sklearn": "auto-sklearn", "autokeras": "AutoKeras"}

SPEC_3D = Spec(
    "medmnist3d", "MedMNIST 3D", 3, BENCHMARKS / "medmnist3d_baselines.yaml", SHORT_3D,
    "Published figures are single values from MedMNIST v2's 3D benchmark table at 28^3 (R18/R50 = ResNet-18/50 "
    "with 2.5D, 3D or ACS convolutions; auto-sklearn; AutoKeras); a 64^3 run is set beside the same figures",
)

if __name__ == "__main__":
    sys.exit(main(spec=SPEC_3D, doc=__doc__))
