"""Geometry in, drawings out: OCCT hidden-line removal for CAD, PNG/SVG/array writers.

Knows nothing of tasks or torch. Import the submodules you need: `renderers.views` and
`renderers.drawing` are numpy only; `renderers.occ` and `renderers.cad` load OpenCascade.
"""
