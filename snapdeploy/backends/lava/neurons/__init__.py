"""Neuron Processes Lava lacks, each with its fixed-point ProcessModel in the same module.

A package of their own because Lava looks for a Process's models by executing every module in
the Process's directory and its parent package's: here that is these modules alone.
"""
