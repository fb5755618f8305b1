"""The ALL-subtype classifier: definition, preprocessing, training, evaluation, export, inference.

Nothing here imports Qt or ``lab_app``; torch is imported only inside the modules that train or
run on CUDA, so ``import model`` (and ``model.inference`` on the CPU path) stays light.
"""

__version__ = "0.1.0"
