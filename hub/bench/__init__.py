"""`edgeemo hub bench` and the throwaway servers it (and the test suite) start: a mosquitto and
a PostgreSQL cluster on loopback, generated load data, simulated devices.

A subpackage of its own, imported only by the bench command and the tests: `edgeemo hub
serve` never loads it. It ships in the wheel because sizing a hub is a user's job (a retail
engineer runs `edgeemo hub bench` on the machine that will hold the fleet), not only ours.
"""
