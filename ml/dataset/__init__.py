"""A dataset is a folder with one subfolder per class: scan it, split it, measure it.

    scan(root)   finds unreadable files (moved to .rejected/), exact and near duplicates
    split(root)  writes train.txt / val.txt / test.txt and classes.json, leakage-free
    stats(root)  streams the training split's per-channel mean and std into dataset.json
"""

from .layout import (
    CLASSES_FILE,
    METADATA_FILE,
    REJECTED_DIR,
    SPLIT_FILES,
    check_classes_on_disk,
    list_class_files,
    list_classes,
    read_metadata,
    read_split,
    require_dataset,
)
from .scan import ScanReport, scan
from .split import SplitReport, split
from .stats import ChannelStats, stats

__all__ = [
    "CLASSES_FILE",
    "METADATA_FILE",
    "REJECTED_DIR",
    "SPLIT_FILES",
    "ChannelStats",
    "ScanReport",
    "SplitReport",
    "check_classes_on_disk",
    "list_class_files",
    "list_classes",
    "read_metadata",
    "read_split",
    "require_dataset",
    "scan",
    "split",
    "stats",
]
