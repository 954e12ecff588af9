"""Foundation: the three dimensions, the settings and limits, the errors a user can cause or fix.

Owns every constant the rest of the package reads. Imports nothing from vs2demo.
"""
