"""Runs the project's own servers locally: Mosquitto, Redis, the controller and simulated receivers.

Used by `make demo` and by the test suite, so both start the real programs with the
project's real configuration.
"""
