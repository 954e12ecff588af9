"""What goes into the model: a clip's headers and limits, the frame maths, the decoders, the official prompt.

May import: core.
"""
