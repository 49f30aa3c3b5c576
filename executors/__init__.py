"""This project's executors, one package each (``executors.<name>``): importable by name wherever the folder
holding ``executors/`` is on the path (the images set PYTHONPATH=/app; ``ymir-sdk run`` and the tests do the
same)."""
