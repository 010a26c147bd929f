//! Kubernetes spawner adapter: pod/PVC lifecycle through kube-rs, watch-based views of pods and events, progress.
