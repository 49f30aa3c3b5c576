"""The task-family loops: inference and mining written once per family (detection today; rotated boxes,
instance and semantic segmentation next), against a small interface each framework implements."""
