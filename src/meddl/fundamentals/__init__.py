"""The building blocks of deep learning, written out in plain NumPy so that each formula can be read in its code.

Every backward pass here is checked in the tests against central finite differences (`gradcheck`) and against
torch.autograd. Nothing in meddl's training path uses these modules: they exist to be read, checked and taught from,
and `train_numpy_cnn` shows that they are enough to train a small CNN on real BreastMNIST images.
See docs/fundamentals.md for the map from each formula to its function and its test.
"""
