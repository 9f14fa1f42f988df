"""made-viz: see how MADE works. `make run` (or `streamlit run app.py`) starts it."""
import streamlit as st

from made_viz.ui import masks_page, sampling_page

st.set_page_config(page_title="made-viz: MADE, visualized", page_icon="🎭", layout="wide")
navigation = st.navigation([
    st.Page(masks_page.render, title="Masks", icon="🕸️", url_path="masks", default=True),
    st.Page(sampling_page.render, title="Sampling", icon="✏️", url_path="sampling"),
])
navigation.run()
