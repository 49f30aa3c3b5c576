"""``ymir_exc`` on ymir-sdk: the documented API of modelai/ymir-executor-sdk 2.x (``settings``, ``env``, ``code``,
``monitor``, ``result_writer``, ``dataset_reader``, ``util``, ``dataset_convert``), and what public executors
import besides it (``executor.Executor``, ``sysinfo``, ``dataset_convert.ymir2coco`` / ``ymir2yolov5`` /
``ymir2mmseg``), with the same names, arguments and return shapes, built on ymir-sdk's atomic, validated
writers and its parsers.

An executor written against ``ymir_exc`` runs unchanged. Where the original's behaviour is a defect (contract
§6.2), this one is corrected and the function's docstring says how; the quirks executors rely on are kept
(IntEnum values that format as numbers, attribute access on ``get_merged_config()``, the 11-stage cap).

Installing ymir-sdk provides this ``ymir_exc``: uninstall the original (``ymir-exc`` on the package index,
``ymir-executor-sdk`` from its repository) first - both ship the same top-level package, so its files would be
whichever was installed last; importing ``ymir_exc`` beside an installed original warns once and says so.

One addition: an uncaught exception in a process that imported ``ymir_exc`` writes monitor state 4 with the
matching 3000xx code and a one-line message (the original left the monitor "running"); see
:func:`ymir_exc.monitor.install_error_hook`.
"""
__version__ = "2.1.1+ymirsdk"

import warnings

from . import monitor as _monitor  # noqa: E402

#: the original SDK's distribution names (the package index's, and its repository's setup.py)
ORIGINAL_DISTRIBUTIONS = ("ymir-exc", "ymir-executor-sdk")


def _warn_beside_the_original() -> None:
    from importlib import metadata

    for name in ORIGINAL_DISTRIBUTIONS:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        warnings.warn(f"{name} {version} is installed beside ymir-sdk and both install the package ymir_exc: its files "
                      f"are whichever was installed last. Run `pip uninstall {name}`, then reinstall ymir-sdk.",
                      stacklevel=2)


_warn_beside_the_original()
_monitor.install_error_hook()
