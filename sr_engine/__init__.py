"""SR Studio's super-resolution engine: a plain PyTorch library with its own CLI.

It never imports django, celery, channels or webapp (a test checks it).
"""

__version__ = "0.1.0"
