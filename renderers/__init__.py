"""Geometry in, drawings out: OCCT hidden-line removal for CAD, line drawings of meshes,
shaded renders, PNG/SVG/array writers. Knows nothing of tasks or torch.

Import the submodules you need: `views`, `drawing`, `raster`, `writers` are numpy/OpenCV
only; `occ` and `cad` load OpenCascade; `mesh_lines` loads trimesh/Embree when it traces
rays; `shaded` loads pyrender.
"""

#: Bumped whenever a change to the code alters the drawings made from the same input and
#: options. Generation jobs and the experiment harness's cached stages key on it, so a
#: dataset is never resumed, or reused, across such a change; `dataset.json` records it.
#: 2: overlapping solids drawn right by OpenCascade (`occ.Overlaps`).
DRAWING_REVISION = 2
