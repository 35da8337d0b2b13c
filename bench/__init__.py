"""digindex benchmarks: throughput, latency, seeding at scale, scale-out, the publisher, and faults.

``python -m bench [--quick] [--ci]`` runs them all (see ``bench/run.py``); each module also
runs alone (``python -m bench.throughput --quick``). Results go to ``bench/results/``.
"""
