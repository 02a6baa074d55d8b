"""Workloads: what clients ask and what must hold. Each module exposes one plugin object `PLUGIN` (name,
option_specs, generator, final_generator, checker) and documents the op vocabulary its clients implement."""
