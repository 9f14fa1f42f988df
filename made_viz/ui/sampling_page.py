"""Sampling page: watch a pretrained MADE draw a digit pixel by pixel."""
import streamlit as st


def render() -> None:
    st.title("Sampling studio")
