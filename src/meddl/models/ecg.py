"""ECG beat classifiers: a 1D CNN and a CNN+LSTM hybrid."""
