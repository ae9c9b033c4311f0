"""Small builders of test data shared by several test files."""

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

# The shared data folder sits beside the repository checkout: <checkout>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARED_MEDMNIST = SHARED_DATA / "medmnist"


def write_dicom(path, pixels: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 16, **tags):
    """A minimal valid DICOM file (with preamble and file meta) holding `pixels` and the given tags."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.set_pixel_data(pixels, photometric, bits)
    for name, value in tags.items():
        setattr(ds, name, value)
    ds.save_as(path, enforce_file_format=True)
    return path



def write_real_png_folder(shared: Path, root: Path, per_class: int = 40, dataset: str = "breastmnist") -> Path:
    """A folder of class sub-folders made of real MedMNIST images saved as PNG, as a user would have."""
    import numpy as np
    from PIL import Image

    with np.load(shared / f"{dataset}.npz") as archive:
        images, labels = archive["train_images"], archive["train_labels"].ravel()
    names = {0: "malignant", 1: "benign"} if dataset == "breastmnist" else {}
    for label in np.unique(labels):
        folder = root / names.get(int(label), f"class{label}")
        folder.mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            Image.fromarray(images[index]).save(folder / f"{i:03d}.png")
    return root
