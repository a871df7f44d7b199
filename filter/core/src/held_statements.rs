//! New statements held for routing rules, watched for the one way holding
//! them can go wrong: Envoy without `allow_on_headers_stop_iteration`.
//!
//! Rules on the statement text pause a new statement's headers and wait for
//! its body. Envoy hands the body over while headers are paused only when the
//! filter's configuration sets `allow_on_headers_stop_iteration: true` (Istio's
//! `WasmPlugin` cannot); otherwise the body never comes and the client would
//! wait for Envoy's timeout. The plugin cannot read that setting, so each
//! worker watches: until it has seen one held body arrive (proof the setting
//! is on), a statement held longer than `WAIT_SECONDS` is answered from the
//! worker's tick with a FAILED result that says what to change. Once a body
//! has arrived, nothing is watched any more (a slow client is not failed).

use std::cell::{Cell, RefCell};

/// How long a held statement may wait for its first body bytes before the
/// worker concludes Envoy will not hand them over.
pub const WAIT_SECONDS: u32 = 5;
/// At most this many held statements are watched per worker (a burst beyond
/// is still answered by Envoy's own timeout).
const MAX_WATCHED: usize = 1024;

pub const MESSAGE: &str = "The gateway's routing rules read this statement's text, but Envoy does not hand the \
statement's body to the filter while its headers are held: set allow_on_headers_stop_iteration: true in the \
trino-gateway filter's configuration, or use rules on headers only";

#[derive(Debug, Default)]
pub struct HeldStatements {
    /// (HTTP context id, worker clock when held).
    held: RefCell<Vec<(u32, u32)>>,
    /// A held body arrived: Envoy hands bodies over, nothing to watch.
    bodies_arrive: Cell<bool>,
}

impl HeldStatements {
    pub fn hold(&self, context_id: u32, now: u32) {
        let mut held = self.held.borrow_mut();
        if !self.bodies_arrive.get() && held.len() < MAX_WATCHED {
            held.push((context_id, now));
        }
    }

    /// A held statement's body came: the setting is on.
    pub fn body_arrived(&self) {
        if !self.bodies_arrive.replace(true) {
            self.held.borrow_mut().clear();
        }
    }

    /// Routed, answered or gone.
    pub fn release(&self, context_id: u32) {
        self.held.borrow_mut().retain(|(id, _)| *id != context_id);
    }

    /// The statements held `WAIT_SECONDS` or more without a body, taken out.
    pub fn overdue(&self, now: u32) -> Vec<u32> {
        if self.bodies_arrive.get() {
            return Vec::new();
        }
        let mut held = self.held.borrow_mut();
        let overdue: Vec<u32> =
            held.iter().filter(|(_, since)| now.saturating_sub(*since) >= WAIT_SECONDS).map(|(id, _)| *id).collect();
        held.retain(|(_, since)| now.saturating_sub(*since) < WAIT_SECONDS);
        overdue
    }

    pub fn bodies_arrive(&self) -> bool {
        self.bodies_arrive.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_statements_are_overdue_until_a_body_is_seen() {
        let held = HeldStatements::default();
        held.hold(7, 100);
        held.hold(8, 103);
        held.hold(9, 103);
        held.release(9);
        assert_eq!(held.overdue(104), Vec::<u32>::new());
        assert_eq!(held.overdue(105), vec![7]);
        assert_eq!(held.overdue(108), vec![8]);
        assert_eq!(held.overdue(200), Vec::<u32>::new(), "each is answered once");
        held.hold(10, 200);
        held.body_arrived();
        held.hold(11, 200);
        assert_eq!(held.overdue(300), Vec::<u32>::new(), "bodies arrive: nothing is watched");
        assert!(held.bodies_arrive());
    }
}
