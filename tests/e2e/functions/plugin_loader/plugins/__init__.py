"""Formatter plugins, one module each (each exposes render(text))."""
