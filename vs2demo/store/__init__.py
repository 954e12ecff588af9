"""The results library: a database (SQLite by default, PostgreSQL for several replicas, through SQLAlchemy) with its
schema and migrations, the stored results that links reopen, reviewers' feedback per dimension, and export/import.

May import: core, input, analysis, evidence (its records), present.
"""
