"""Offline desktop client (PyQt5) around `ml.predict`: one picture, or a whole folder, at a time."""
