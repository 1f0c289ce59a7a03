"""Inference: the emotion model on the device. Opening a model against its sidecar, the TFLite
interpreter from whichever runtime is installed, the Edge TPU delegate (loaded in one place),
the `Classifier` interface the loop uses, pure pre/post-processing on arrays, and verified
model releases (`edgeemo model ...`). Owns `[model]`.
"""
