"""Typed model of ``env.yaml`` (contract §2), read for every platform version from 1.0 to 2.5. The outputs are
written for YMIR 2.0-2.5 (``model_stages``, infer-result.json's ``boxes``, the 5-column monitor): YMIR 1.0/1.1
(an env.yaml without ``protocol_version``) reads another result.yaml, infer key and monitor line, so a run under
it says so in its log (:attr:`EnvConfig.before_2_0`) rather than pretend.

The file is found, in order: the ``path`` argument, the ``YMIR_ENV_FILE`` environment variable (the older SDK's
``DEFAULT_ENV_FILE_PATH`` is honoured too), then the platform's fixed location. Every path the SDK uses comes from
this file; a key missing from an older platform's env.yaml is derived from the root folders it does give.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import ConfigError
from .io import read_yaml_mapping

DEFAULT_IN_ROOT = "/in"
DEFAULT_OUT_ROOT = "/out"
DEFAULT_ENV_FILE = os.path.join(DEFAULT_IN_ROOT, "env.yaml")
DEFAULT_MANIFEST_FILE = "/img-man/manifest.yaml"
ENV_FILE_VARIABLES = ("YMIR_ENV_FILE", "DEFAULT_ENV_FILE_PATH")

# Relative locations the platform uses under the roots (used only for keys an older env.yaml lacks).
_INPUT_DEFAULTS = {"assets_dir": "assets", "annotations_dir": "annotations", "models_dir": "models",
                   "config_file": "config.yaml"}
_OUTPUT_DEFAULTS = {"models_dir": "models", "tensorboard_dir": "tensorboard",
                    "training_result_file": "models/result.yaml", "mining_result_file": "result.tsv",
                    "infer_result_file": "infer-result.json", "monitor_file": "monitor.txt",
                    "executor_log_file": "ymir-executor-out.log"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _fill_from_root(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("must be a mapping")
        data = {k: ("" if v is None else v) for k, v in data.items()}
        root = data.get("root_dir") or cls._default_root()
        data["root_dir"] = root
        for key, rel in cls._relative_defaults().items():
            if key not in data:
                data[key] = os.path.join(root, rel)
        return data

    @staticmethod
    def _default_root() -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def _relative_defaults() -> Dict[str, str]:  # pragma: no cover - overridden
        raise NotImplementedError


class EnvInput(_Section):
    root_dir: str
    assets_dir: str
    annotations_dir: str
    models_dir: str
    config_file: str
    training_index_file: str = ""
    val_index_file: str = ""
    candidate_index_file: str = ""

    @staticmethod
    def _default_root() -> str:
        return DEFAULT_IN_ROOT

    @staticmethod
    def _relative_defaults() -> Dict[str, str]:
        return _INPUT_DEFAULTS


class EnvOutput(_Section):
    root_dir: str
    models_dir: str
    tensorboard_dir: str
    training_result_file: str
    mining_result_file: str
    infer_result_file: str
    monitor_file: str
    executor_log_file: str

    @staticmethod
    def _default_root() -> str:
        return DEFAULT_OUT_ROOT

    @staticmethod
    def _relative_defaults() -> Dict[str, str]:
        return _OUTPUT_DEFAULTS


class EnvConfig(BaseModel):
    """env.yaml. ``protocol_version`` is absent before YMIR 2.0 and stuck at 1.1.0 for all of 2.x."""

    model_config = ConfigDict(extra="allow", frozen=True)

    task_id: str = "default-task"
    protocol_version: str = "0.0.1"
    run_training: bool = False
    run_mining: bool = False
    run_infer: bool = False
    manifest_file: str = DEFAULT_MANIFEST_FILE
    input: EnvInput = EnvInput()
    output: EnvOutput = EnvOutput()

    @model_validator(mode="before")
    @classmethod
    def _none_to_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
            for key in ("task_id", "protocol_version"):
                if key in data and not isinstance(data[key], str):
                    data[key] = str(data[key])
        return data

    @property
    def before_2_0(self) -> Optional[str]:
        """Why the outputs will not be read, when env.yaml is YMIR 1.0/1.1's (no ``protocol_version``); else None."""
        if "protocol_version" in self.model_fields_set:
            return None
        return ("env.yaml has no protocol_version (YMIR 1.0/1.1): the outputs are written for YMIR 2.0-2.5 "
                "(result.yaml model_stages, infer-result.json boxes, the 5-column monitor), which 1.x does not read")

    @property
    def tasks(self) -> list:
        """The tasks of this run, in the order the platform expects: training alone, else mining then infer."""
        if self.run_training:
            return ["train"]
        return [t for t, flag in (("mine", self.run_mining), ("infer", self.run_infer)) if flag]


def env_file_path(path: Optional[str] = None) -> str:
    if path:
        return os.fspath(path)
    for var in ENV_FILE_VARIABLES:
        if os.environ.get(var):
            return os.environ[var]
    return DEFAULT_ENV_FILE


def load_env(path: Optional[str] = None) -> EnvConfig:
    """Read and validate env.yaml. Any problem is a 300001 error naming the file and the key."""
    path = env_file_path(path)
    data = read_yaml_mapping(path, "env")
    try:
        return EnvConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "env.yaml"
        raise ConfigError(key, err.get("input"), message=f"env file {path}: key '{key}' = {err.get('input')!r}: "
                          f"{err['msg']}") from None
