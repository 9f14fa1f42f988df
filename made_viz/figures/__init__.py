"""Plotly figures as pure functions of data (no streamlit), by what they draw.

base: the plumbing (the unchecked figure, plain lists, shared colours, pixel metrics);
graph: the connectivity graph and unit names; matrices: the layer masks and the path counts;
digits: pixel grids; tiny: the Tiny world's curve and p(x); likelihood: the Likelihood page's.
Import the module you need: `from made_viz.figures import graph, matrices`.
"""
