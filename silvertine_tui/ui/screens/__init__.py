"""Screens: the main desk, help, confirmation, order history, modify."""
