"""vs2demo: run, stream and explain VideoScore2 (arXiv 2509.22799) evaluations of AI-generated videos.

Importing the package is cheap: torch, transformers and the model load only when first needed.
"""

from .dimensions import DIMENSIONS
from .errors import GenerationError, InputError, ModelLoadError, VS2Error
from .options import GenerationOptions, Limits

__all__ = ["DIMENSIONS", "GenerationError", "GenerationOptions", "InputError", "Limits", "ModelLoadError",
           "VS2Error"]
__version__ = "0.1.0"
