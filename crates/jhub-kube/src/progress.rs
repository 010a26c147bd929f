//! KubeSpawner 7.1's spawn progress: one message per new pod event,
//! `"<lastTimestamp or eventTime> [<type>] <message>"`, the progress value
//! moving a third of the way to 90 each time (30, 50, 63, 72, ...), the raw
//! event passed along; and the "taking longer than expected" message after
//! `slow_spawn_message_threshold` seconds, then every
//! `slow_spawn_message_frequency` seconds.

use jhub_core::ports::ProgressEvent;
use serde_json::Value;
use std::time::Duration;

/// The top of the event-driven progress range (the hub reports 100 when ready).
const MAX_PROGRESS: f64 = 90.0;

/// The running progress value of one spawn.
#[derive(Debug, Clone, Default)]
pub struct ProgressCounter {
    value: f64,
}

impl ProgressCounter {
    /// Moves one third of the remaining way to 90 and returns the whole
    /// percent (truncated, like KubeSpawner's `int()`).
    pub fn advance(&mut self) -> u8 {
        self.value += (MAX_PROGRESS - self.value) / 3.0;
        self.value as u8
    }
}

fn text<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `"<lastTimestamp or eventTime> [<type>] <message>"`, timestamps as the
/// API sent them.
pub fn event_message(event: &Value) -> String {
    let at = text(event, "lastTimestamp")
        .or_else(|| text(event, "eventTime"))
        .or_else(|| event.pointer("/metadata/creationTimestamp").and_then(Value::as_str))
        .unwrap_or("");
    let kind = text(event, "type").unwrap_or("Normal");
    let message = text(event, "message").unwrap_or("");
    format!("{at} [{kind}] {message}")
}

/// The progress message for a new event.
pub fn event_progress(counter: &mut ProgressCounter, event: Value) -> ProgressEvent {
    ProgressEvent {
        progress: Some(counter.advance()),
        message: event_message(&event),
        html_message: None,
        raw_event: Some(event),
    }
}

/// The slow-spawn message (`{seconds}` replaced by whole seconds waited).
pub fn slow_message(template: &str, waited: Duration) -> ProgressEvent {
    ProgressEvent {
        progress: None,
        message: template.replace("{seconds}", &waited.as_secs().to_string()),
        html_message: None,
        raw_event: None,
    }
}

/// When the slow-spawn messages are due.
#[derive(Debug, Clone)]
pub struct SlowSchedule {
    next: Duration,
    every: Duration,
}

impl SlowSchedule {
    /// First after `threshold`, then every `every` (at least one second).
    pub fn new(threshold: Duration, every: Duration) -> Self {
        Self { next: threshold, every: every.max(Duration::from_secs(1)) }
    }

    /// Time since the start when the next message is due.
    pub fn next_due(&self) -> Duration {
        self.next
    }

    /// True (and schedules the next one) when a message is due at `elapsed`.
    pub fn due(&mut self, elapsed: Duration) -> bool {
        if elapsed < self.next {
            return false;
        }
        while self.next <= elapsed {
            self.next += self.every;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_moves_a_third_of_the_way_to_90() {
        let mut counter = ProgressCounter::default();
        let steps: Vec<u8> = (0..12).map(|_| counter.advance()).collect();
        assert_eq!(steps, [30, 50, 63, 72, 78, 82, 84, 86, 87, 88, 88, 89]);
    }

    #[test]
    fn message_format_prefers_last_timestamp() {
        let core = json!({"lastTimestamp": "2025-06-16T04:42:00Z", "eventTime": null, "type": "Normal",
            "message": "Successfully assigned jupyterhub/jupyter-alice to l1"});
        assert_eq!(
            event_message(&core),
            "2025-06-16T04:42:00Z [Normal] Successfully assigned jupyterhub/jupyter-alice to l1"
        );
        let new_style = json!({"lastTimestamp": null, "eventTime": "2025-06-16T04:42:00.123456Z", "type": "Warning",
            "message": "0/2 nodes are available"});
        assert_eq!(event_message(&new_style), "2025-06-16T04:42:00.123456Z [Warning] 0/2 nodes are available");
        let mut counter = ProgressCounter::default();
        let event = event_progress(&mut counter, core.clone());
        assert_eq!(event.progress, Some(30));
        assert_eq!(event.raw_event, Some(core));
    }

    #[test]
    fn slow_messages_after_threshold_then_every_interval() {
        let mut schedule = SlowSchedule::new(Duration::from_secs(60), Duration::from_secs(5));
        assert!(!schedule.due(Duration::from_secs(59)));
        assert!(schedule.due(Duration::from_secs(60)));
        assert!(!schedule.due(Duration::from_secs(64)));
        assert!(schedule.due(Duration::from_secs(65)));
        assert_eq!(schedule.next_due(), Duration::from_secs(70));
        let message = slow_message(
            "Server launch is taking longer than expected. Please be patient! Current time spent waiting: {seconds} seconds.",
            Duration::from_millis(65_400),
        );
        assert_eq!(
            message.message,
            "Server launch is taking longer than expected. Please be patient! Current time spent waiting: 65 seconds."
        );
        assert_eq!(message.progress, None);
    }
}
