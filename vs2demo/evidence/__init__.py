"""Explanations of a finished result (an extra, never the official scores): the clip's seconds and the reasoning's
sentences, and what re-scoring with parts of the evidence hidden measured about them.

May import: core, input, analysis, engine.
"""
