"""The batch job (``caliper run``): plan, timepoint tasks, state store, assembly, report."""
