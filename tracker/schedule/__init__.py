"""Carbon-aware scheduling: choosing a time (windows), a place (greenest) and waiting for green (waiting)."""
