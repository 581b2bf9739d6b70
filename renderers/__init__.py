"""Geometry in, drawings out: OCCT hidden-line removal for CAD, line drawings of meshes,
shaded renders, PNG/SVG/array writers. Knows nothing of tasks or torch.

Import the submodules you need: `views`, `drawing`, `raster`, `writers` are numpy/OpenCV
only; `occ` and `cad` load OpenCascade; `mesh_lines` loads trimesh/Embree when it traces
rays; `shaded` loads pyrender.
"""
