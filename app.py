"""made-viz: see how MADE works. `make run` (or `streamlit run app.py`) starts it."""
import streamlit as st

from made_viz.ui import presenter, server


# Each page module is imported when its page is first shown: the Masks page does not wait for
# torch, which only the Sampling page and the Jacobian check need.
def lecture():
    from made_viz.ui import tour_page
    tour_page.render()


def masks():
    from made_viz.ui import masks_page
    masks_page.render()


def sampling():
    from made_viz.ui import sampling_page
    sampling_page.render()


def likelihood():
    from made_viz.ui import likelihood_page
    likelihood_page.render()


def tiny_world():
    from made_viz.ui import tiny_page
    tiny_page.render()


server.server_blas()
st.set_page_config(page_title="made-viz: MADE, visualized", page_icon="🎭", layout="wide")
server.moved_notice()  # a browser whose server stopped, opened again here
tour_page = st.Page(lecture, title="Lecture", icon="🎓", url_path="tour")
masks_page = st.Page(masks, title="Masks", icon="🕸️", url_path="masks")
sampling_page = st.Page(sampling, title="Sampling", icon="✏️", url_path="sampling")
likelihood_page = st.Page(likelihood, title="Likelihood", icon="📏", url_path="likelihood")
tiny_page = st.Page(tiny_world, title="Tiny world", icon="🧮", url_path="tiny")


def start():
    """The app's root URL opens the Masks page at /masks, with the link's parameters.

    Streamlit serves its default page at "" only (page.url_path is "" for it), so a default
    Masks page would answer /masks with "Page not found". The default is this hidden page
    instead, and every visible page has the one address its links and the menu use.
    """
    st.switch_page(masks_page, query_params=st.query_params.to_dict())


# Presenter mode (present=1, made_viz/ui/presenter.py) hides the menu with the sidebar.
navigation = st.navigation([
    st.Page(start, title="Masks", url_path="start", default=True, visibility="hidden"),
    tour_page, masks_page, sampling_page, likelihood_page, tiny_page,
], position="hidden" if presenter.presenting() else "sidebar")
# The page takes its turn after its header (server.my_turn); after the first page, `make run`
# loads the Sampling page's model in the background (server.page_drawn).
with server.page_run():
    navigation.run()
