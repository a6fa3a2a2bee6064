"""Carbon: pure accounting (energy x PUE x intensity per hour, supplier mix, embodied), PUE models, estimates
of energy measured elsewhere, and everyday equivalents.
"""
