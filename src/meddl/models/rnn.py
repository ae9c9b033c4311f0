"""Recurrent classifiers (LSTM, GRU) for ECG signals and for token sequences."""
