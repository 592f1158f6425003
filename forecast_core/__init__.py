"""Lean inference pieces shared by training and serving (no TensorFlow import here)."""
