"""Streamlit pages, one module each, and the UI modules they share (never a page importing a
page): models (the bundled models, their picker and prepared masks), network_controls (the
controls that build a network), server (the process's set-up), widgets, and the player and
sketch components."""
