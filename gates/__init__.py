"""The built-in gates, one module each: lint, schema, regression, cost.

Drop a module with a ``promptrail.gating.Gate`` subclass here to add a gate of your own.
"""
