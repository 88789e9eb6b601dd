"""Broker accounts for devices: an interface and its Mosquitto implementation."""
