//! A Kubernetes API server simulator (pods, PVCs, events, nodes, services, secrets; scheduler and kubelet) for tests and the demo.
