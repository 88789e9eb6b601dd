"""The fleet registry: areas, devices, enrolment and desired state."""
