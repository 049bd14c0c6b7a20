"""Textual app: screens, widgets, styles, key map, themes."""
