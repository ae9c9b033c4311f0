"""Text models: a BiLSTM classifier with attention pooling (passages, question+context pairs) and an LSTM language model."""
