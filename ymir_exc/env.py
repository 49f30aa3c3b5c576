"""env.yaml and config.yaml: ``get_current_env()`` (re-read on every call, as the original), ``get_executor_config()``
(config.yaml as a plain dict) and ``DatasetType``. The models are ymir-sdk's (every path derived from the roots
when env.yaml leaves it out; a bad value is a 300001 error naming the key)."""
from enum import IntEnum, auto

from ymir_sdk.config import load_config
from ymir_sdk.env import EnvConfig, EnvInput, EnvOutput, load_env

from . import settings

EnvInputConfig = EnvInput
EnvOutputConfig = EnvOutput

__all__ = ["DatasetType", "EnvConfig", "EnvInputConfig", "EnvOutputConfig", "get_current_env", "get_executor_config"]


class DatasetType(IntEnum):
    UNKNOWN = auto()
    TRAINING = auto()
    VALIDATION = auto()
    CANDIDATE = auto()


def get_current_env() -> EnvConfig:
    return load_env(settings.DEFAULT_ENV_FILE_PATH)


def get_executor_config() -> dict:
    """config.yaml (the path env.yaml names) as a dict; an empty file is ``{}``."""
    return dict(load_config(get_current_env().input.config_file))
