"""Typed hyper-parameters (config.yaml, contract §3).

An executor declares its hyper-parameters once, as a subclass of :class:`HyperParams` whose field defaults are
the values of its ``img-man`` template. Values arrive the way the web form sends them: untouched template values
keep their type, values the user typed arrive as strings (``"false"``, ``"0.25"``, ``"1,2"``) and are coerced;
mining and inference forms drop every falsy value, so a missing key takes its default. A bad value is a
:class:`~ymir_sdk.errors.ConfigError` (300001) naming the key, the value and what was expected.
"""
from __future__ import annotations

import logging
import os
import typing
from typing import Any, Dict, List, Literal, Optional, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator
from typing_extensions import Annotated

from .errors import ConfigError
from .io import read_yaml_mapping

log = logging.getLogger("ymir_sdk")


def _split_commas(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (int, float)):
        return [value]
    return value


FloatList = Annotated[List[float], BeforeValidator(_split_commas)]
"""A list of floats given as a YAML list or as a comma string (``"1.0,0.5"``); ``""`` is the empty list."""
IntList = Annotated[List[int], BeforeValidator(_split_commas)]


def _class_weights(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    return _split_commas(value)


#: ``class_distribution_scores: auto``: the weights computed from the model's training set (its objects per class)
AUTO = "auto"
ClassWeights = Annotated[Union[Literal["auto"], List[float]], BeforeValidator(_class_weights)]
"""Per-class weights as a :data:`FloatList`, or ``auto`` (:data:`AUTO`): computed at mining from the class counts
the model's training wrote beside it (:func:`ymir_sdk.mining.detection.balanced_class_weights`)."""
StrList = Annotated[List[str], BeforeValidator(_split_commas)]

#: what every ``cald_candidates`` key does (the mining templates of the executors that offer cald)
CALD_CANDIDATES = ("cald's stage 2: the N least consistent images, reordered by how far their classes are from the "
                   "labelled set's (the paper: 1.2 x the images to label); 0: stage 1 only")

PLATFORM_KEYS = ("task_id", "class_names", "gpu_id", "gpu_count", "object_type", "pretrained_model_params",
                 "model_params_path", "run_infer", "run_mining", "export_format", "shm_size", "git_url",
                 "git_branch", "code_config", "openpai_enable", "prompt")


class HyperParams(BaseModel):
    """Base of every executor's hyper-parameter model: the platform keys plus the executor's own fields."""

    model_config = ConfigDict(extra="allow", validate_default=True, protected_namespaces=())

    # Keys the platform writes (contract §3.2). They never appear in an image's template, except export_format
    # and shm_size, which a training template declares as its own fields.
    task_id: str = "default-task"
    class_names: List[str] = []
    gpu_id: str = ""
    gpu_count: int = 0
    object_type: Optional[int] = None
    pretrained_model_params: List[str] = []
    model_params_path: List[str] = []
    run_infer: bool = False
    run_mining: bool = False

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        """``''``/``None`` for a non-string field means "not given" (the web drops such values anyway)."""
        if not isinstance(data, dict):
            return data
        out = {}
        for key, value in data.items():
            field = cls.model_fields.get(key)
            if field is not None and (value is None or value == "") and field.annotation is not str:
                continue
            out[key] = value
        return out

    @field_validator("gpu_id", mode="before")
    @classmethod
    def _gpu_id(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            raise ValueError("expected a comma-separated list of GPU ids such as '0,1', or '' for the CPU")
        text = value.replace(" ", "")
        if text.lower() in ("", "none", "cpu", "-1"):
            return ""
        if not all(part.isdigit() for part in text.split(",")):
            raise ValueError("expected a comma-separated list of GPU ids such as '0,1', or '' for the CPU")
        return text

    @field_validator("class_names", "pretrained_model_params", "model_params_path", mode="before")
    @classmethod
    def _str_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @property
    def gpu_ids(self) -> List[int]:
        return [int(x) for x in self.gpu_id.split(",")] if self.gpu_id else []

    @property
    def extra_keys(self) -> Dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})

    def check_task(self, task: str) -> None:
        """What config.yaml must hold for a task, checked before any work: a training's ``class_names`` (given,
        each once) and, where the executor has them, ``class_distribution_scores`` (one per class, or none)."""
        if task == "train":
            if not self.class_names:
                raise ConfigError("class_names", self.class_names, "the task's class names (the platform writes "
                                  "them for a training)")
            seen = set()
            for name in self.class_names:
                key = name.strip().lower()
                if key in seen:
                    raise ConfigError("class_names", self.class_names, f"each class once; {name!r} is there twice")
                seen.add(key)
        weights = getattr(self, "class_distribution_scores", None)
        if weights and weights != AUTO and len(weights) != len(self.class_names):
            raise ConfigError("class_distribution_scores", ",".join(map(str, weights)),
                              f"one weight per class ({len(self.class_names)}) or none")

    @classmethod
    def template(cls) -> Dict[str, Any]:
        """The ``img-man`` template this model describes: its own fields (no platform keys) with their defaults."""
        out = {}
        for name, field in cls.model_fields.items():
            if name in HyperParams.model_fields:
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, list):  # templates are flat key: scalar maps
                default = ",".join(str(v) for v in default)
            out[name] = default
        return out

    @classmethod
    def parse(cls, raw: Dict[str, Any]):
        """Validate a config.yaml mapping; unknown keys are kept and listed in the log."""
        try:
            params = cls.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            # a Union's member is a part of the location (``literal['auto']``): not a key of config.yaml, and the
            # first member's complaint not the point (the expected types say it all)
            union = any("[" in str(p) for p in err["loc"])
            key = ".".join(str(p) for p in err["loc"] if "[" not in str(p)) or "config.yaml"
            field = cls.model_fields.get(str(err["loc"][0])) if err["loc"] else None
            expected = _describe(field.annotation) if field is not None else "a valid value"
            raise ConfigError(key, err.get("input"), expected if union else f"{expected} ({err['msg']})") from None
        unknown = sorted(k for k in params.extra_keys if k not in PLATFORM_KEYS)
        if unknown:
            log.warning("config.yaml keys not used by this executor: %s", ", ".join(unknown))
        return params


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is Annotated:
        return _describe(args[0])
    if origin is typing.Union:
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin in (list, List):
        return f"a list of {_describe(args[0]) if args else 'values'} (YAML list or comma-separated string)"
    names = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def load_config(path: str) -> Dict[str, Any]:
    """Read config.yaml as a mapping; an empty file is an empty mapping; anything else is a 300001 error."""
    return read_yaml_mapping(path, "config")


def write_template(cls: type, path: str) -> None:
    """Write an img-man template from a HyperParams model (the model is the single source of truth)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cls.template(), f, sort_keys=False, allow_unicode=True)
