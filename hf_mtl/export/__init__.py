"""Getting a trained model out: one task as a plain `AutoModelFor*` folder, ONNX graphs, the model card, Hub push.

Reads saved models and the training results; imports the modeling core and `hf_mtl.metrics`, never the workflow.
"""
