"""Monitor states and return codes (the original's names; the values of ymir_sdk.errors)."""
from enum import IntEnum

from ymir_sdk.errors import ExecutorState as _State
from ymir_sdk.errors import ReturnCode as _Code


class ExecutorState(IntEnum):
    ES_RUNNING = int(_State.RUNNING)
    ES_ERROR = int(_State.ERROR)

    def __str__(self) -> str:  # '2', as f-strings of the original's IntEnum give on every Python
        return str(int(self))


class ExecutorReturnCode(IntEnum):
    RC_EXEC_NO_ERROR = int(_Code.OK)
    RC_EXEC_CONFIG_ERROR = int(_Code.CONFIG_ERROR)
    RC_EXEC_DATASET_ERROR = int(_Code.DATASET_ERROR)
    RC_EXEC_UNKNOWN_IMAGE_FORMAT = int(_Code.IMAGE_ERROR)
    RC_EXEC_MODEL_ERROR = int(_Code.MODEL_ERROR)
    RC_EXEC_OBJECT_TYPE_ERROR = int(_Code.OBJECT_TYPE_ERROR)
    RC_EXEC_CUDA_GPU_ERROR = int(_Code.CUDA_ERROR)
    RC_EXEC_NO_GPU = int(_Code.NO_GPU)
    RC_EXEC_OOM = int(_Code.OUT_OF_MEMORY)
    RC_EXEC_NAN_ERROR = int(_Code.NAN_ERROR)
    RC_EXEC_NETWORK_ERROR = int(_Code.NETWORK_ERROR)
    RC_CMD_CONTAINER_ERROR = int(_Code.CONTAINER_ERROR)

    def __str__(self) -> str:
        return str(int(self))
