"""Glue for the released ``yolov5`` package (7.0.14, ultralytics/yolov5 v7.0 models), shared by every executor on
it (detection; yolov5-seg instance segmentation): offline set-up and the checkpoint allow-list (:mod:`.common`),
the architecture check and ``args_options`` (:mod:`.common`), the training task with stages from callbacks and
the ONNX export (:mod:`.train`; yolov5-seg's logger hook: :mod:`.segment`), the models behind the SDK's
detection and instance loops (:mod:`.predict`), and what both executors share (:mod:`.executor`).

Optional: yolov5 and torch are imported only by the functions that use them.
"""
