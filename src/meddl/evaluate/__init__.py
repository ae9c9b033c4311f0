"""How well a model does: metrics with confidence intervals (`metrics`), figures and reports.

Kept empty so importing one submodule does not pull in the others (figures load matplotlib).
"""
