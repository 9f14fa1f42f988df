"""Masks page: build MADE masks and see every layer's mask and the product matrix."""
import plotly.express as px
import streamlit as st

from made_viz.masks import build_masks


def render() -> None:
    st.title("MADE masks")
    masks = build_masks(4, (4, 4), seed=0)
    cols = st.columns(len(masks.layer_masks) + 1)
    for l, (col, mask) in enumerate(zip(cols, masks.layer_masks)):
        col.plotly_chart(px.imshow(mask, title=f"mask {l + 1}"), key=f"mask{l}")
    cols[-1].plotly_chart(px.imshow(masks.connectivity(), title="paths"), key="paths")
