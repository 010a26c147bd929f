//! Live capacity per profile option: how many more servers of an option that
//! requests an extended resource (GPUs) fit on the cluster right now. Plain
//! data; `jhub-podspec::capacity` computes it, `jhub-kube` keeps the cluster
//! view it is computed from, the web layer shows it.

use serde::Serialize;
use std::collections::BTreeMap;

/// How many servers of one profile option fit now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionCapacity {
    /// Profile slug (`user_options.profile`).
    pub profile: String,
    /// The profile option's key, `None` for a profile without options.
    pub option: Option<String>,
    /// The option's choice key, `None` for a profile without options.
    pub choice: Option<String>,
    /// Servers that fit now, summed over the matching nodes.
    pub free: u64,
    /// What one server requests, per resource, as Kubernetes quantities.
    pub requests: BTreeMap<String, String>,
    /// Every node the option may run on (selector, affinity, taints), with
    /// how many servers fit there now.
    pub nodes: Vec<NodeFree>,
}

/// Servers of an option that fit on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeFree {
    /// Node name.
    pub name: String,
    /// How many fit.
    pub free: u64,
}

/// Capacity of every option (of the profiles some user may use) that
/// requests an extended resource, in profile-list order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapacityReport {
    /// One entry per profile (without options) or option choice.
    pub options: Vec<OptionCapacity>,
}

impl CapacityReport {
    /// The entry for a profile and, when it has options, one option choice.
    pub fn find(&self, profile: &str, option: Option<&str>, choice: Option<&str>) -> Option<&OptionCapacity> {
        self.options
            .iter()
            .find(|o| o.profile == profile && o.option.as_deref() == option && o.choice.as_deref() == choice)
    }
}
