"""Caliper's batch runs and command line (the only code that prints)."""
