"""``ymir_exc`` on ymir-sdk: the documented API of modelai/ymir-executor-sdk 2.x (``settings``, ``env``, ``code``,
``monitor``, ``result_writer``, ``dataset_reader``, ``util``, ``dataset_convert``) with the same names,
arguments and return shapes, built on ymir-sdk's atomic, validated writers and its parsers.

An executor written against ``ymir_exc`` runs unchanged. Where the original's behaviour is a defect (contract
§6.2), this one is corrected and the function's docstring says how; the quirks executors rely on are kept
(IntEnum values that format as numbers, attribute access on ``get_merged_config()``, the 11-stage cap).

Installing ymir-sdk provides this ``ymir_exc``: uninstall ``ymir-executor-sdk`` first (both ship the same
top-level package name). One addition: an uncaught exception in a process that imported ``ymir_exc`` writes
monitor state 4 with the matching 3000xx code and a one-line message (the original left the monitor
"running"); see :func:`ymir_exc.monitor.install_error_hook`.
"""
__version__ = "2.1.1+ymirsdk"

from . import monitor as _monitor  # noqa: E402

_monitor.install_error_hook()
