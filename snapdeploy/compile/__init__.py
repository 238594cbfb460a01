"""Compile: cut a model graph, place it on a target and compile every partition into a build
directory, the one thing the runtime loads."""

from snapdeploy.compile.build import BUILD_FILE, build_target, compile_graph, compile_plan

__all__ = ["BUILD_FILE", "build_target", "compile_graph", "compile_plan"]
