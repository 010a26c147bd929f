//! Local processes standing in for containers (process mode): spawning in a new process group
//! with a clean environment and a log file, signalling the whole group, and the argv/env rules
//! (image ENTRYPOINT/CMD emulation and Kubernetes `$(VAR)` expansion).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::config::ProcessSpec;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub log: PathBuf,
}

/// Starts the process in its own process group, stdout and stderr appended to the log.
pub(crate) async fn spawn(l: &Launch) -> Result<tokio::process::Child, String> {
    let Some((program, args)) = l.argv.split_first() else {
        return Err("no command specified".into());
    };
    if let Some(dir) = l.log.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(|e| format!("creating log dir {}: {e}", dir.display()))?;
    }
    tokio::fs::create_dir_all(&l.cwd).await.map_err(|e| format!("creating working dir {}: {e}", l.cwd.display()))?;
    let log = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&l.log)
        .await
        .map_err(|e| format!("opening log {}: {e}", l.log.display()))?
        .into_std()
        .await;
    let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(&l.env)
        .current_dir(&l.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn().map_err(|e| format!("exec: {program:?}: {e}"))
}

/// Sends a signal to a process group (the container's "cgroup"); a gone group is not an error.
pub(crate) fn signal_group(pgid: u32, kill: bool) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if let Some(pid) = Pid::from_raw(raw) {
        let sig = if kill { Signal::KILL } else { Signal::TERM };
        if let Err(e) = kill_process_group(pid, sig)
            && e != rustix::io::Errno::SRCH
        {
            tracing::debug!(pgid, error = %e, "signalling process group");
        }
    }
}

/// Kubernetes `$(VAR)` expansion: known variables are replaced, `$$` escapes, unknown
/// references stay as written.
pub(crate) fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(a) = after.strip_prefix('(')
            && let Some(end) = a.find(')')
        {
            let name = &a[..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &a[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// argv for a container: `command` + `args` if `command` is set, else the image's ENTRYPOINT +
/// (`args` or the image's CMD); `argv[0]` mapped through `programs`; `extra_args` appended.
pub(crate) fn argv(
    command: &[String],
    args: &[String],
    spec: &ProcessSpec,
    env: &BTreeMap<String, String>,
) -> Vec<String> {
    let command: Vec<String> = command.iter().map(|s| expand(s, env)).collect();
    let args: Vec<String> = args.iter().map(|s| expand(s, env)).collect();
    let mut argv = if !command.is_empty() {
        [command, args].concat()
    } else {
        let tail = if args.is_empty() { spec.default_args.clone() } else { args };
        [spec.entrypoint.clone(), tail].concat()
    };
    if let Some(first) = argv.first_mut()
        && let Some(mapped) = spec.programs.get(first.as_str())
    {
        *first = mapped.clone();
    }
    argv.extend(spec.extra_args.iter().cloned());
    argv
}

/// Maps a container path to a host path through the given mounts (longest mount first):
/// `(mountPath, host directory)`.
pub(crate) fn map_path(mounts: &[(String, PathBuf)], container_path: &str) -> Option<PathBuf> {
    let mut best: Option<(&str, &Path)> = None;
    for (mp, host) in mounts {
        let mp_trim = mp.trim_end_matches('/');
        let inside = container_path == mp_trim
            || container_path.strip_prefix(mp_trim).is_some_and(|r| r.starts_with('/'))
            || mp_trim.is_empty();
        if inside && best.is_none_or(|(b, _)| mp_trim.len() > b.len()) {
            best = Some((mp_trim, host.as_path()));
        }
    }
    let (mp, host) = best?;
    let rest = container_path[mp.len()..].trim_start_matches('/');
    Some(if rest.is_empty() { host.to_path_buf() } else { host.join(rest) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let vars = BTreeMap::from([("POD_IP".to_string(), "127.10.0.2".to_string())]);
        assert_eq!(expand("--bind=$(POD_IP)", &vars), "--bind=127.10.0.2");
        assert_eq!(expand("$(MISSING)-$$(POD_IP)-$5", &vars), "$(MISSING)-$(POD_IP)-$5");
    }

    #[test]
    fn entrypoint_emulation() {
        let spec = ProcessSpec {
            programs: BTreeMap::from([(
                "jupyterhub-singleuser".to_string(),
                "/venv/bin/jupyterhub-singleuser".to_string(),
            )]),
            extra_args: vec!["--ServerApp.allow_root=True".into()],
            default_args: vec!["start-notebook.sh".into()],
            ..ProcessSpec::default()
        };
        let env = BTreeMap::new();
        assert_eq!(
            argv(&[], &["jupyterhub-singleuser".into()], &spec, &env),
            vec!["/venv/bin/jupyterhub-singleuser", "--ServerApp.allow_root=True"]
        );
        assert_eq!(argv(&[], &[], &spec, &env), vec!["start-notebook.sh", "--ServerApp.allow_root=True"]);
        assert_eq!(argv(&["sh".into(), "-c".into()], &["echo".into()], &spec, &env)[..3], ["sh", "-c", "echo"]);
    }

    #[test]
    fn mount_mapping() {
        let mounts = vec![
            ("/home/jovyan".to_string(), PathBuf::from("/data/pvc-1")),
            ("/home/jovyan/shared".to_string(), PathBuf::from("/data/pvc-2")),
        ];
        assert_eq!(map_path(&mounts, "/home/jovyan"), Some(PathBuf::from("/data/pvc-1")));
        assert_eq!(map_path(&mounts, "/home/jovyan/work"), Some(PathBuf::from("/data/pvc-1/work")));
        assert_eq!(map_path(&mounts, "/home/jovyan/shared/x"), Some(PathBuf::from("/data/pvc-2/x")));
        assert_eq!(map_path(&mounts, "/home/jovyanx"), None);
        assert_eq!(map_path(&mounts, "/tmp"), None);
    }
}
