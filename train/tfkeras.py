"""The one place TensorFlow is imported for training: Keras 2 (tf_keras), as tfmot requires.

`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; importing
TensorFlow through this module guarantees that. TensorFlow 2.21's C++ start-up lines
(oneDNN notice, missing CUDA) are written to stderr before absl logging is configured, so
`TF_CPP_MIN_LOG_LEVEL` cannot hide them; they are silenced at the file-descriptor level
for the import and device discovery only (`edgeemo.quiet`). `-v` or EDGEEMO_TF_LOGS=1 shows them.
"""

import os

from edgeemo.quiet import native_stderr_hidden, shown

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if not shown():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_quietly():
    with native_stderr_hidden():
        import tensorflow
        import tf_keras

        tensorflow.config.list_physical_devices()  # the CUDA probe logs here, not at import
    return tensorflow, tf_keras


tf, keras = _import_quietly()

__all__ = ["keras", "tf"]
