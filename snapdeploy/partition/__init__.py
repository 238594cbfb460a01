"""Cut a model graph into dense and spiking partitions and place them on a target."""

from snapdeploy.partition.cut import cut
from snapdeploy.partition.partitions import Boundary, DensePartition, Partition, SpikingPartition
from snapdeploy.partition.place import Plan, place

__all__ = ["Boundary", "DensePartition", "Partition", "Plan", "SpikingPartition", "cut", "place"]
