"""Pure reading of what the model wrote: scores and soft scores, the result record, stability over samples,
pairwise verdicts and the Best-of-N leaderboard. No torch, no I/O.

May import: core, input (the frame plan a result carries).
"""
