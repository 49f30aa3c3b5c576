"""ymir-sdk: the SDK for YMIR executor images (env/config parsing, datasets, monitor, results, errors, mining,
local runner and contract verifier). Framework-free at its core: nothing here imports torch at top level."""
from .config import ClassWeights, FloatList, HyperParams, IntList, StrList
from .env import EnvConfig, load_env
from .errors import (ConfigError, ContractError, DatasetError, ImageError, ModelError, ObjectTypeError,
                     ReturnCode, YmirError)
from .executor import Context, Executor, MultiTypeExecutor, run
from .models import pick_weight_file, resolve_model_files
from .monitor import Monitor
from .results import Detection, Instance, TrainingResult

__version__ = "0.1.0"
__all__ = ["ClassWeights", "FloatList", "HyperParams", "IntList", "StrList", "EnvConfig", "load_env", "ConfigError",
           "ContractError", "DatasetError", "ImageError", "ModelError", "ObjectTypeError", "ReturnCode", "YmirError",
           "Context", "Executor", "MultiTypeExecutor", "pick_weight_file", "resolve_model_files", "run", "Monitor",
           "Detection", "Instance", "TrainingResult"]
