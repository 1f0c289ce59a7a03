"""The edge runtime (installed as `edgeemo.edge`); never imports TensorFlow."""
