"""The edge runtime (installed as `edgeemo.edge`): what runs on each store's device. It never
imports TensorFlow.

Floors, lowest first; a module imports only from its own floor or lower ones:

- the ground floor, `edgeemo/`: labels, the model sidecar, preprocessing, the wire contract
  (`edgeemo.wire`, `edgeemo.aggregates`), config loading, systemd notify;
- one subpackage per concern, each owning its config sections: `capture/` (frames and
  sources), `vision/` (detectors, zones, tracker), `inference/` (model, interpreter, Edge TPU,
  classifier, releases), `analytics/` (visits, intervals, store, outbox, MQTT, report),
  `service/` (metrics, device health, debugging views);
- the top: `config.py` (all sections composed), `loop.py` (the frame loop, handed its parts
  as interfaces), `runtime.py` (`edgeemo run` assembled), `bench.py` and `cli.py`.

`tests/test_layout.py` checks the floors.
"""
