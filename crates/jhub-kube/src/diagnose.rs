//! Reading a pod's status and its events: is the server ready, still on its
//! way, or failed for good? Pure functions of the objects, so the rules are
//! tested without a cluster.
//!
//! Fail fast (KubeSpawner would wait for `start_timeout` instead): image
//! pulls that failed (`ErrImagePull`, `ImagePullBackOff`, ...), containers
//! that could not be created or exited, `FailedMount`, and
//! `FailedScheduling` when no node could ever take the pod (every node is
//! ruled out by node selector/affinity or an untolerated taint — nothing
//! that freeing capacity would change). A pod that is only short of
//! capacity (`Insufficient nvidia.com/gpu`, too many pods) keeps waiting:
//! a server may stop and free it before `start_timeout`.

use jhub_core::ports::PollStatus;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// Where a starting pod stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Running, all containers ready, with this IP.
    Ready {
        /// `status.podIP`.
        ip: String,
    },
    /// Still on its way; a short description of why it is not ready yet.
    Starting {
        /// E.g. `pod is Pending (ContainerCreating)`.
        detail: String,
    },
    /// Will not become ready; the message says why.
    Failed {
        /// For the user: names the image, volume, container or scheduling problem.
        message: String,
    },
}

/// Scheduling failure reasons that freeing capacity cannot fix.
const NEVER_FITS: &[&str] = &["didn't match Pod's node affinity/selector", "had untolerated taint"];

/// Whether a `FailedScheduling` message (`0/2 nodes are available: 1
/// Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node
/// affinity/selector. preemption: ...`) rules every node out for reasons
/// that waiting cannot change.
pub fn never_schedulable(message: &str) -> bool {
    let head = message.split(" preemption:").next().unwrap_or(message);
    let Some((_, reasons)) = head.split_once("nodes are available: ") else { return false };
    let mut any = false;
    for reason in reasons.trim().trim_end_matches('.').split(", ") {
        any = true;
        if !NEVER_FITS.iter().any(|fixed| reason.contains(fixed)) {
            return false;
        }
    }
    any
}

const PULL_FAILURES: &[&str] = &["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];
const CREATE_FAILURES: &[&str] = &["CreateContainerConfigError", "CreateContainerError", "RunContainerError"];

fn spec_image(pod: &Pod, container: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container)
        .and_then(|c| c.image.clone())
}

fn exit_text(code: i32, reason: Option<&str>, message: Option<&str>) -> String {
    let mut text = format!("exit code {code}");
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        text.push_str(&format!(", {reason}"));
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        text.push_str(&format!(": {}", message.trim()));
    }
    text
}

/// A container that will not run, or `None`.
fn container_failure(pod: &Pod, status: &ContainerStatus, init: bool) -> Option<String> {
    let state = status.state.as_ref()?;
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or("");
        let message = waiting.message.as_deref().unwrap_or("").trim();
        if PULL_FAILURES.contains(&reason) {
            let image = spec_image(pod, &status.name).unwrap_or_else(|| status.image.clone());
            let detail = if message.is_empty() { String::new() } else { format!(": {message}") };
            return Some(format!("could not pull image \"{image}\" ({reason}){detail}"));
        }
        if CREATE_FAILURES.contains(&reason) {
            return Some(format!("container {} could not be started ({reason}): {message}", status.name));
        }
        if reason == "CrashLoopBackOff" {
            let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let detail = last
                .map(|t| format!(" ({})", exit_text(t.exit_code, t.reason.as_deref(), t.message.as_deref())))
                .unwrap_or_default();
            return Some(format!("container {} keeps exiting{detail}", status.name));
        }
    }
    if let Some(terminated) = &state.terminated {
        // Init containers are meant to finish; only a failing one is a problem.
        if init && terminated.exit_code == 0 {
            return None;
        }
        return Some(format!(
            "container {} exited ({})",
            status.name,
            exit_text(terminated.exit_code, terminated.reason.as_deref(), terminated.message.as_deref())
        ));
    }
    None
}

/// Reads a pod that a spawn is waiting on. `fail_unschedulable` turns a
/// `FailedScheduling` that can never succeed into a failure (off for
/// clusters whose autoscaler may add matching nodes).
pub fn assess(pod: &Pod, fail_unschedulable: bool) -> PodState {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Failed { message: format!("pod {name} was deleted while the server was starting") };
    }
    let Some(status) = &pod.status else {
        return PodState::Starting { detail: format!("pod {name} has no status yet") };
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let init = status.init_container_statuses.iter().flatten().map(|s| (s, true));
    let main = status.container_statuses.iter().flatten().map(|s| (s, false));
    for (container, is_init) in init.chain(main) {
        if let Some(message) = container_failure(pod, container, is_init) {
            return PodState::Failed { message };
        }
    }
    if matches!(phase, "Failed" | "Succeeded") {
        let why = [status.reason.as_deref(), status.message.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
        return PodState::Failed { message: format!("pod {name} ended ({phase}){why}") };
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
    if let Some(condition) = unscheduled {
        let message = condition.message.clone().unwrap_or_default();
        if fail_unschedulable && never_schedulable(&message) {
            return PodState::Failed { message: format!("no node can ever run this server: {message}") };
        }
        return PodState::Starting { detail: format!("pod {name} could not be scheduled: {message}") };
    }
    let ip = status.pod_ip.clone().unwrap_or_default();
    let statuses = status.container_statuses.as_deref().unwrap_or(&[]);
    if phase == "Running" && !ip.is_empty() && !statuses.is_empty() && statuses.iter().all(|s| s.ready) {
        return PodState::Ready { ip };
    }
    let waiting: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .filter(|r| !r.is_empty())
        .collect();
    let detail = if waiting.is_empty() {
        format!("pod {name} is {phase}")
    } else {
        format!("pod {name} is {phase} ({})", waiting.join(", "))
    };
    PodState::Starting { detail }
}

/// An event that means the spawn cannot succeed, as a message for the user.
pub fn failing_event(reason: &str, message: &str, fail_unschedulable: bool) -> Option<String> {
    match reason {
        "FailedMount" | "FailedAttachVolume" => Some(format!("could not mount the server's volumes: {message}")),
        "Failed" if message.starts_with("Failed to pull image") => {
            let image = message.split('"').nth(1).unwrap_or("");
            Some(format!("could not pull image \"{image}\" (ErrImagePull): {message}"))
        }
        "FailedScheduling" if fail_unschedulable && never_schedulable(message) => {
            Some(format!("no node can ever run this server: {message}"))
        }
        _ => None,
    }
}

/// What `poll()` answers for the pod found in the view (KubeSpawner's
/// rules), and whether the pod should be deleted because its server
/// exited (`delete_stopped_pods`).
pub fn poll_status(pod: Option<&Pod>) -> (PollStatus, bool) {
    let Some(pod) = pod else { return (PollStatus::Stopped { exit_code: None }, false) };
    let Some(status) = &pod.status else { return (PollStatus::Running, false) };
    if status.phase.as_deref().is_none_or(|p| p == "Pending") {
        return (PollStatus::Running, false);
    }
    let statuses = status.container_statuses.as_deref().unwrap_or(&[]);
    if statuses.is_empty() {
        return (PollStatus::Stopped { exit_code: Some(1) }, true);
    }
    let notebook = statuses.iter().find(|s| s.name == "notebook");
    if let Some(terminated) = notebook.and_then(|s| s.state.as_ref()).and_then(|s| s.terminated.as_ref()) {
        return (PollStatus::Stopped { exit_code: Some(terminated.exit_code) }, true);
    }
    (PollStatus::Running, false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{Value, json};

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "jupyter-alice"},
            "spec": {"containers": [{"name": "notebook", "image": "quay.io/x/nope:1"}]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn scheduling_messages() {
        let capacity = "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.";
        assert!(!never_schedulable(capacity));
        let never = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
        assert!(never_schedulable(never));
        let taint = "0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 node(s) didn't match Pod's node affinity/selector.";
        assert!(never_schedulable(taint));
        assert!(!never_schedulable("0/2 nodes are available: 2 pod has unbound immediate PersistentVolumeClaims."));
        assert!(!never_schedulable("something else entirely"));
        assert_eq!(failing_event("FailedScheduling", never, false), None, "autoscaler clusters keep waiting");
        assert!(failing_event("FailedScheduling", never, true).unwrap().contains("no node can ever run"));
        assert_eq!(failing_event("FailedScheduling", capacity, true), None);
        assert!(failing_event("FailedMount", "MountVolume.SetUp failed", true).unwrap().contains("mount"));
        assert_eq!(
            failing_event("Failed", "Failed to pull image \"x/y:1\": not found", true).unwrap(),
            "could not pull image \"x/y:1\" (ErrImagePull): Failed to pull image \"x/y:1\": not found"
        );
        assert_eq!(failing_event("Failed", "Error: ErrImagePull", true), None);
    }

    #[test]
    fn image_pull_failure_names_the_image() {
        let p = pod(json!({"phase": "Pending", "containerStatuses": [{"name": "notebook", "image": "quay.io/x/nope:1",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"quay.io/x/nope:1\""}}}]}));
        match assess(&p, true) {
            PodState::Failed { message } => {
                assert!(message.contains("\"quay.io/x/nope:1\""), "{message}");
                assert!(message.contains("ImagePullBackOff"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ready_starting_and_exited() {
        let running = pod(json!({"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "notebook", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}));
        assert_eq!(assess(&running, true), PodState::Ready { ip: "10.0.0.5".into() });
        assert_eq!(poll_status(Some(&running)), (PollStatus::Running, false));
        let creating = pod(json!({"phase": "Pending", "containerStatuses": [
            {"name": "notebook", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        assert_eq!(
            assess(&creating, true),
            PodState::Starting { detail: "pod jupyter-alice is Pending (ContainerCreating)".into() }
        );
        assert_eq!(poll_status(Some(&creating)), (PollStatus::Running, false));
        let exited = pod(json!({"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "notebook", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}));
        match assess(&exited, true) {
            PodState::Failed { message } => assert!(message.contains("exit code 137, OOMKilled"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(poll_status(Some(&exited)), (PollStatus::Stopped { exit_code: Some(137) }, true));
        assert_eq!(poll_status(None), (PollStatus::Stopped { exit_code: None }, false));
        let unschedulable = pod(json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}]}));
        match assess(&unschedulable, true) {
            PodState::Starting { detail } => assert!(detail.contains("Insufficient nvidia.com/gpu"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let mut deleting = running.clone();
        deleting.metadata.deletion_timestamp = unschedulable
            .metadata
            .creation_timestamp
            .clone()
            .or_else(|| serde_json::from_value(json!("2025-01-01T00:00:00Z")).ok());
        assert!(matches!(assess(&deleting, true), PodState::Failed { .. }));
    }
}
