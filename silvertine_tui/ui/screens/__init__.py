"""Screens: the main desk, and the dialogs over it (help, confirmation, order history,
modify, quit), each with its own key bar (`dialog.py`)."""
