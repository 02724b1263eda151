"""Widgets of the playground and the dashboard."""
