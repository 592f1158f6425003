"""The Open Inference Protocol (KServe V2): JSON tensors, ``{"error": "..."}`` errors."""
