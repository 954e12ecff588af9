"""Errors a user can cause or fix. Each carries one line that says what is wrong and what to do."""


class VS2Error(Exception):
    """Base class: the message is shown as is in the UI and as ``error: …`` by the CLI."""


class InputError(VS2Error):
    """Bad user input: a file that is not a usable video, an empty prompt, a clip over a limit."""


class ModelLoadError(VS2Error):
    """The model could not be loaded (offline, wrong id, out of memory)."""


class GenerationError(VS2Error):
    """Generation failed part way (for instance out of memory); the model stays loaded."""


class StoreError(VS2Error):
    """The results library refused: a missing or malformed link, someone else's feedback, an edit made meanwhile."""
