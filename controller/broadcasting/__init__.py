"""Broadcasting now: one shared start instant, confirmation of emergencies, delivery, stop."""
