"""Presentation, pure: results in, escaped HTML, plotly figures or prose out. Each module is named for what it
produces (``*_html``, ``*_prose``, ``figures``). No gradio, no model.

May import: core, input, analysis, evidence (its records, never its runs).
"""
