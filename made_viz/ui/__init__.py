"""Streamlit pages: each reads widgets, calls the library, and draws what comes back."""
