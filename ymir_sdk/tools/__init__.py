"""The SDK's tools wing: what a developer runs on a workstation, never what an image runs (an image needs the core,
:mod:`ymir_sdk.loops` and its framework glue). ``ymir-sdk run`` lays out a platform work folder and runs an
executor (:mod:`.runner`), ``simulate`` an offline active-learning loop (:mod:`.simulate`), ``verify`` and
``check-image`` read an executor's outputs and image folder against the contract (:mod:`.verify`), ``conformance``
runs every task on generated data (:mod:`.conformance`), ``new`` writes an executor package (:mod:`.scaffold`);
:mod:`.localdata` reads local COCO, YOLO, VOC and ark datasets, :mod:`.synthetic` writes generated ones."""
