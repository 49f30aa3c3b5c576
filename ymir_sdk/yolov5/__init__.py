"""Glue for the released ``yolov5`` package (7.0.14, ultralytics/yolov5 v7.0 models), shared by every executor on
it (detection; yolov5-seg next): offline set-up and the checkpoint allow-list (:mod:`.common`), the architecture
check and ``args_options`` (:mod:`.common`), training with stages from callbacks and the ONNX export
(:mod:`.train`), and the detection model behind the SDK's detection loop (:mod:`.predict`).

Optional: yolov5 and torch are imported only by the functions that use them.
"""
