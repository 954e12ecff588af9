"""The model side: loading VideoScore2 once, a clip's tensors, generation on its worker thread with the digit
recorder, teacher-forced re-scoring, and the evaluator that turns one request into a stream of events.

Every transformers internal the project reads lives here. Never imports gradio.
May import: core, input, analysis.
"""
