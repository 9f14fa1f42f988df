"""The load test's baseline: Streamlit's floor, one button and the number of clicks.

A click reruns this script and shows the new count: the least a Streamlit click can cost, on
the same server settings, under the same number of browser pages, measured the same way as
the Sampling page's Step (tests/load/lecture_hall.py).
"""
import streamlit as st

st.session_state.setdefault("clicks", 0)


def step() -> None:
    st.session_state["clicks"] += 1


st.button("Step", key="step", on_click=step)
with st.container(key="count"):
    st.text(str(st.session_state["clicks"]))
