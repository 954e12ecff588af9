"""Batch work: CSV jobs in, resumable JSONL results out, and the same rows spread over model replicas on Ray.

May import: core, input, analysis, engine, store (the results library, for agreement and export).
"""
