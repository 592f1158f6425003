"""Peers: the same ``lstm.onnx`` served by KServe's model server and MLServer, measured beside ours.

``setup.sh`` installs each peer into its own virtual environment (``.venvs/<peer>``, git-ignored);
``run.py`` (or ``benchmarks/run.py --peers``) measures them. The modules that run inside a peer's
environment (``lstm_onnx``, ``kserve_model``, ``mlserver_model``) import nothing of the project but
this package; the rest import only the standard library and the harness.
"""
