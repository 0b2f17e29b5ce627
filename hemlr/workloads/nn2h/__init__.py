"""Workload ``nn2h``: a network f -> h1 -> h2 -> K (default 400 -> 32 -> 16 -> 10) trained with the
MLR paper's cubic activation in every layer and the BCE output rule delta = p - y, this harness's
own definition of the follow-up paper's workload (nn.md).

``reference``: the exact algorithm in float64 numpy, checked against PyTorch autograd; ``plan``:
nn.md's diagonal Volley-Revolver packing, one state ciphertext, 14 levels per iteration;
``program``: the client and the server; ``workload``: the Workload subclass the scanner finds here.
"""
from .workload import TwoHiddenLayerNN

__all__ = ["TwoHiddenLayerNN"]
