"""The web app: the page's layout and handlers (Gradio), the JSON tools for agents, the request guard, the run
registry with its ZeroGPU lease, and the files handed to Gradio.

May import: every layer below (core, input, analysis, engine, evidence, present, store). Nothing imports serve but
the app and the command line's report writer.
"""
