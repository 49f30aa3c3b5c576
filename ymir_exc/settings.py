"""Where env.yaml and config.yaml are read from. Tests (and executors) may assign these module attributes.

``DEFAULT_ENV_FILE_PATH``: ``$DEFAULT_ENV_FILE_PATH``, else ``$YMIR_ENV_FILE``, else the platform's place (the
original only read the first). ``DEFAULT_CONFIG_FILE_PATH`` is kept for compatibility; config.yaml is read from
the path env.yaml names, as the original does.
"""
import os

from ymir_sdk.env import DEFAULT_IN_ROOT, env_file_path

DEFAULT_ENV_FILE_PATH = os.environ.get("DEFAULT_ENV_FILE_PATH") or env_file_path()
DEFAULT_CONFIG_FILE_PATH = os.environ.get("DEFAULT_CONFIG_FILE_PATH") or os.path.join(DEFAULT_IN_ROOT, "config.yaml")
