"""photogpt-batch: make a folder of generated videos match a campaign YAML, through the PhotoGPT API."""

from .hookspecs import hookimpl
from .models import IMAGE_ROLES, VIDEO_ROLES, Model, Problem

__all__ = ["IMAGE_ROLES", "VIDEO_ROLES", "Model", "Problem", "hookimpl"]
__version__ = "0.1.0"
