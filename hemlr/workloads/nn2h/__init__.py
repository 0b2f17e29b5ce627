"""Workload ``nn2h`` (being built): a network 400 -> 32 -> 16 -> K trained with the MLR paper's
cubic activation in every layer and the BCE output rule delta = p - y (docs: shared nn.md).

Done: ``reference``, the exact algorithm in float64 numpy, checked against PyTorch autograd.
To come: the plan (the diagonal Volley-Revolver packing and its level/bootstrap schedule), the
client and the server programs. Until they exist this package defines no Workload subclass, so
the scanner of :mod:`hemlr.workloads` does not register an incomplete workload.
"""
