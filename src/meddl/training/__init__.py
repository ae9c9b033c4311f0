"""How it is learned: the Lightning trainer, its configuration and augmentation (the `train` verb lives in meddl.api)."""
