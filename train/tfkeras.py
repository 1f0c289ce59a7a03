"""The one place TensorFlow is imported for training: Keras 2 (tf_keras), as tfmot requires.

`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; importing
TensorFlow through this module guarantees that. TensorFlow 2.21's C++ start-up lines
(oneDNN notice, missing CUDA) are written to stderr before absl logging is configured, so
`TF_CPP_MIN_LOG_LEVEL` cannot hide them; they are silenced at the file-descriptor level
for the import and device discovery only. Set EDGEEMO_TF_LOGS=1 to see them.
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_quietly():
    if os.environ.get("EDGEEMO_TF_LOGS") == "1":
        import tensorflow
        import tf_keras

        return tensorflow, tf_keras
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
        import tf_keras

        tensorflow.config.list_physical_devices()  # the CUDA probe logs here, not at import
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    return tensorflow, tf_keras


tf, keras = _import_quietly()

__all__ = ["keras", "tf"]
