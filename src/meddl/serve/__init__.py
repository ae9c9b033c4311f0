"""Where a trained model is used: ONNX export (`export`), predictors over an export or a checkpoint (`predictor`),
and the HTTP API. Nothing heavy is imported here; import the submodule you need."""
