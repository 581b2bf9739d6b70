"""SPARE3D-CSG models and the similar-object rule, seeded and deterministic.

The recipe follows the published generator (`../shared/reference/spare3d.md`): n primitives,
each uniformly a box (integer sides 5..50), a partial cylinder (R 1..25, H 1..50, sweep
1..360 degrees), a partial cone (R1 5..25, R2 10..50, H 1..50, sweep 1..360) or a sphere
(R 5..25); each rotated by a multiple of 90 degrees about one principal axis and moved on
the integer grid 0..10 per axis; then one primitive is cut by another (the tool stays in
the model). The original keeps the primitives as a compound of overlapping solids
(`variant="compound"`); `variant="fused"` unites them into one clean solid.

Every random draw comes from a generator seeded by (seed, stream, index), so model i of a
seed is the same whichever worker makes it and in whatever order.
"""

from __future__ import annotations

import numpy as np

from renderers import occ
from renderers.errors import RenderError

from .csg_spec import (  # noqa: F401 - the engine-free parts, importable from here as before
    OPERATIONS,
    PRIMITIVES,
    VARIANTS,
    CSGRecipe,
    GenerationError,
    PrimitiveSpec,
    ToolSpec,
    draw_primitive,
    draw_tool,
    rng_for,
)

def occ_primitive(spec: PrimitiveSpec) -> occ.Shape:
    """The primitive as an OpenCascade solid."""
    if spec.kind == "box":
        shape = occ.box(*spec.size)
    elif spec.kind == "cylinder":
        r, h, sweep = spec.size
        shape = occ.cylinder(r, h, angle_deg=sweep)
    elif spec.kind == "cone":
        r1, r2, h, sweep = spec.size
        shape = occ.cone(r1, r2, h, angle_deg=sweep)
    else:
        shape = occ.sphere(spec.size[0])
    axis = tuple(float(i == spec.axis) for i in range(3))
    return occ.transformed(shape, translate=spec.move, rotate=(axis, spec.angle) if spec.angle else None)


def random_primitive(rng: np.random.Generator) -> occ.Shape:
    """One SPARE3D-CSG primitive, rotated and placed on the grid."""
    return occ_primitive(draw_primitive(rng))


def csg_model(seed: int, index: int, recipe: CSGRecipe = CSGRecipe(), tries: int = 10) -> occ.Shape:
    """Model `index` of `seed`: the primitives, one cut by another, compound or fused."""
    rng = rng_for(seed, "model", index)
    for _ in range(tries):
        prims = [random_primitive(rng) for _ in range(recipe.primitives)]
        i, j = (int(v) for v in rng.choice(recipe.primitives, size=2, replace=False))
        try:
            cut = occ.cut(prims[i], prims[j])
        except RenderError:
            continue
        if occ.count(cut, occ.TopAbs_FACE) == 0:  # the tool swallowed the primitive: draw again
            continue
        prims[i] = cut
        if recipe.variant == "compound":
            return occ.compound(prims)
        try:
            return occ.fuse_all(prims)
        except RenderError:
            continue
    raise GenerationError(f"model {index} of seed {seed}: no valid model in {tries} tries")


def occ_tool(spec: ToolSpec) -> occ.Shape:
    """The similar-object rule's primitive as an OpenCascade solid."""
    if spec.kind == "box":
        sides = np.asarray(spec.size)
        return occ.box(*sides, origin=tuple(np.asarray(spec.center) - sides / 2))
    if spec.kind == "sphere":
        return occ.sphere(spec.size[0], tuple(spec.center))
    r, h = spec.size
    base = (spec.center[0], spec.center[1], spec.center[2] - h / 2)
    if spec.kind == "cone":
        return occ.cone(r, 0.0, h, origin=base)
    return occ.cylinder(r, h, origin=base)


def similar_tool(shape: occ.Shape, rng: np.random.Generator) -> occ.Shape:
    """The similar-object rule's random primitive, sized and placed from the model's box
    (`csg_spec.draw_tool`)."""
    lo, hi = occ.tight_box(shape)
    return occ_tool(draw_tool(lo, hi, rng))


def apply_tool(shape: occ.Shape, tool: occ.Shape, operation: str = "cut") -> occ.Shape:
    """Cut, unite or intersect the model with a tool.

    A compound model (overlapping solids) is changed solid by solid, and only the solids
    whose boxes meet the tool's box take part in a boolean: the rest are kept (cut) or
    dropped (intersection) as they are, and a union adds the tool as one more solid.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r} (use {', '.join(OPERATIONS)})")
    if shape.ShapeType() != occ.TopAbs_ShapeEnum.TopAbs_COMPOUND:
        return {"cut": occ.cut, "union": occ.fuse, "intersection": occ.common}[operation](shape, tool)
    if operation == "union":
        return occ.compound([*occ.children(shape), tool])
    t_lo, t_hi = occ.loose_box(tool)
    out = []
    for solid in occ.children(shape):
        lo, hi = occ.loose_box(solid)
        touches = bool(np.all(lo <= t_hi) and np.all(t_lo <= hi))
        if operation == "cut":
            out.append(occ.cut(solid, tool) if touches else solid)
        elif touches:
            out.append(occ.common(solid, tool))
    return occ.compound(out)
