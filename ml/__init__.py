"""The animal classifier's data and model pipeline.

Importable alone: nothing here imports Flask, RQ or Qt. Heavy modules (torch) are imported
only by the submodules that need them, never at package import time.
"""
