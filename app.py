"""made-viz: see how MADE works. `make run` (or `streamlit run app.py`) starts it."""
import streamlit as st

from made_viz import ui


# Each page module is imported when its page is first shown: the Masks page does not wait for
# torch, which only the Sampling page and the Jacobian check need.
def masks():
    from made_viz.ui import masks_page
    masks_page.render()


def sampling():
    from made_viz.ui import sampling_page
    sampling_page.render()


def tiny_world():
    from made_viz.ui import tiny_page
    tiny_page.render()


st.set_page_config(page_title="made-viz: MADE, visualized", page_icon="🎭", layout="wide")
navigation = st.navigation([
    st.Page(masks, title="Masks", icon="🕸️", url_path="masks", default=True),
    st.Page(sampling, title="Sampling", icon="✏️", url_path="sampling"),
    st.Page(tiny_world, title="Tiny world", icon="🧮", url_path="tiny"),
])
navigation.run()
ui.page_drawn()  # after the first page: `make run` loads the Sampling page's model meanwhile
