"""Using a trained run: predicting new joints, the report, the ONNX export."""
