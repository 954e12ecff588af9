"""vs2demo: run, stream and explain VideoScore2 (arXiv 2509.22799) evaluations of AI-generated videos.

The folders are the architecture, each layer importing only those below it (checked by tests/test_layout.py):

    core      dimensions, settings and limits, user errors
    input     clip headers, frame maths, decoders, the official prompt
    analysis  scores from text and probabilities, results, stability, verdicts, ranking (pure)
    engine    the model: loading, clip tensors, generation, re-scoring, the evaluator's event stream
    evidence  explanations of a finished result (an extra)
    present   HTML, figures and prose from results (pure)
    store     the results library: stored results, links, reviewers' feedback (SQLite or PostgreSQL)
    serve     the Gradio page, JSON/MCP tools, request guard, run registry   |  batch  CSV/JSONL jobs, Ray
    cli       the command line

Importing the package is cheap: torch, transformers and the model load only when first needed.
"""

__version__ = "0.1.0"
