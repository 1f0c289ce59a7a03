"""Training and evaluation of the FER CNN (installed as `edgeemo.train`; needs the `train` extra)."""
