"""The command line (``python -m vs2demo``): score, rank, explain, frames, parse, prompt, make-smoke-model.

May import: every layer (it is the top, beside serve).
"""
