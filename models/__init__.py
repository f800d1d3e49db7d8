"""Vigil's audio-visual model: synthetic data, training, export, contract and run-time loader.

Only ``models.net``, ``models.cli_train``, ``models.cli_export`` and ``models.trainer`` import
torch; the contract loader, the runtime and the data generators need numpy/onnxruntime only.
"""
