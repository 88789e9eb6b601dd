"""The controller's side of the MQTT protocol."""
