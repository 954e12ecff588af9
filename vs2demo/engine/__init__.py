"""The model side, behind one interface (``interface.Engine``): loading VideoScore2 once (``loader``), a clip's
tensors, generation on the model's decode thread with the digit recorder, teacher-forced re-scoring, and the
evaluator that turns one request into a stream of events using that interface only.

Every private transformers hook the project uses lives in ``hf_internals`` (guarded by tests/test_hf_internals.py).
Never imports gradio.
May import: core, input, analysis.
"""
