"""The global OHLC model set: bars <-> model units, manifest, predictor, intervals and loader.

NumPy, pydantic and onnxruntime only (no TensorFlow, pandas or scikit-learn), so the service and
training share exactly this code for normalisation, decoding and recursion.
"""
