"""Workload ``nn2h`` (being built): a network 400 -> 32 -> 16 -> K trained with the MLR paper's
cubic activation in every layer and the BCE output rule delta = p - y (docs: shared nn.md).

Done: ``reference``, the exact algorithm in float64 numpy, checked against PyTorch autograd;
``plan`` (nn.md's diagonal Volley-Revolver packing, one state ciphertext, 14 levels per
iteration) and ``program`` (client and server), equal to the reference to 1e-12 on the plaintext
backend (tests/test_nn2h_program.py); ``workload`` (the Workload subclass).

Not registered yet: this package does not import ``workload``, so the scanner of
:mod:`hemlr.workloads` does not find the class. The generic checks would fail on OpenFHE's
TEST_PARAMS (ring 1024: 512 slots cannot hold the 852 diagonal weight values of the checks'
7 -> 32 -> 16 -> 4 network in the one state ciphertext a refresh needs). Registering is the line
``from .workload import TwoHiddenLayerNN`` here.
"""
