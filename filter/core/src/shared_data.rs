//! Envoy's process-wide shared data (a key → (bytes, cas) map shared by every
//! worker VM with the same vm_id), behind a trait so the core runs natively.
//!
//! Envoy ignores the CAS of a write to a key that does not exist yet, so two
//! workers creating the same key at once both "succeed" and the first write is
//! lost. Hence the rule here: every key the gateway owns is created (empty) at
//! configure time by `create_if_absent` — Envoy configures a canary VM on the
//! main thread before any worker, and all creators write the same empty
//! value — and `update`, the only way data is written, refuses a key that does
//! not exist instead of writing it unconditionally.

use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedDataError {
    /// Another worker wrote the key since we read it.
    CasMismatch,
    /// The key was never created (`create_if_absent` at configure time).
    Missing(String),
    /// Any other host failure (with the host's status, for the log).
    Host(String),
}

pub trait SharedData {
    /// The value and its CAS token; `(None, None)` when the key does not
    /// exist, `(None, Some(cas))` when it holds an empty value.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError>;
    /// Write; with `cas` the write fails with `CasMismatch` if the key changed.
    /// As in Envoy, a `cas` is ignored when the key does not exist yet.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError>;
}

/// How often a read-modify-write is retried when other workers race us.
pub const CAS_ATTEMPTS: usize = 8;

/// Creates `key` with an empty value unless it exists. Concurrent creators all
/// write the same empty value, so none of them can erase another's data as
/// long as data is written only through `update` (which never creates).
pub fn create_if_absent(store: &(impl SharedData + ?Sized), key: &str) -> Result<bool, SharedDataError> {
    match store.get(key)? {
        (None, None) => store.set(key, b"", None).map(|()| true),
        _ => Ok(false),
    }
}

/// Read-modify-write with optimistic concurrency. `update` returns the new
/// value, or `None` when nothing needs writing. Returns what was written.
/// The key must exist: a write to a missing key would ignore the CAS.
pub fn update<S: SharedData + ?Sized, T>(
    store: &S,
    key: &str,
    mut update: impl FnMut(&[u8]) -> Option<(Vec<u8>, T)>,
) -> Result<Option<T>, SharedDataError> {
    for _ in 0..CAS_ATTEMPTS {
        let (current, cas) = store.get(key)?;
        // Envoy hands an empty value back as no data with a CAS.
        let Some(cas) = cas else {
            return Err(SharedDataError::Missing(key.to_string()));
        };
        let Some((value, result)) = update(current.as_deref().unwrap_or_default()) else {
            return Ok(None);
        };
        match store.set(key, &value, Some(cas)) {
            Ok(()) => return Ok(Some(result)),
            Err(SharedDataError::CasMismatch) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(SharedDataError::CasMismatch)
}

/// An in-memory stand-in with Envoy's semantics (proxy-wasm-cpp-host
/// `SharedData::set`: a non-zero cas must match an existing key; a fresh
/// cas on every write). Used by tests and benchmarks.
#[derive(Default)]
pub struct MemorySharedData {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: RefCell<u32>,
}

impl MemorySharedData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys held, empty ones included.
    pub fn keys(&self) -> usize {
        self.map.borrow().len()
    }

    /// Bytes held in keys and values: what Envoy keeps for this VM id.
    pub fn bytes(&self) -> usize {
        self.map.borrow().iter().map(|(k, (v, _))| k.len() + v.len()).sum()
    }
}

impl SharedData for MemorySharedData {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
        // As Envoy: an empty value comes back as no data, with its CAS.
        Ok(match self.map.borrow().get(key) {
            Some((value, cas)) if value.is_empty() => (None, Some(*cas)),
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        let mut map = self.map.borrow_mut();
        let mut next = self.next_cas.borrow_mut();
        *next = next.wrapping_add(1).max(1);
        if let Some(entry) = map.get_mut(key) {
            if cas.is_some_and(|c| c != entry.1) {
                return Err(SharedDataError::CasMismatch);
            }
            *entry = (value.to_vec(), *next);
        } else {
            map.insert(key.to_string(), (value.to_vec(), *next));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_semantics_match_envoy() {
        let store = MemorySharedData::new();
        assert_eq!(store.get("k"), Ok((None, None)));
        assert_eq!(store.set("k", b"1", Some(42)), Ok(()), "cas ignored for a new key");
        let (_, cas) = store.get("k").unwrap_or_default();
        assert_eq!(store.set("k", b"2", cas), Ok(()));
        assert_eq!(store.set("k", b"3", cas), Err(SharedDataError::CasMismatch));
        assert_eq!(store.set("k", b"4", None), Ok(()));
        assert_eq!(store.get("k").map(|(v, _)| v), Ok(Some(b"4".to_vec())));
    }

    #[test]
    fn update_retries_on_races() {
        struct Racy {
            inner: MemorySharedData,
            races_left: RefCell<u32>,
        }
        impl SharedData for Racy {
            fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
                let got = self.inner.get(key);
                // Another worker writes between our read and our write.
                if *self.races_left.borrow() > 0 {
                    *self.races_left.borrow_mut() -= 1;
                    self.inner.set(key, b"other", None)?;
                }
                got
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
                self.inner.set(key, value, cas)
            }
        }
        let store = Racy { inner: MemorySharedData::new(), races_left: RefCell::new(3) };
        store.inner.set("k", b"start", None).unwrap_or_default();
        let written = update(&store, "k", |current| Some(([current, b"+mine"].concat(), ())));
        assert_eq!(written, Ok(Some(())));
        assert_eq!(store.inner.get("k").map(|(v, _)| v), Ok(Some(b"other+mine".to_vec())));
        let store = Racy { inner: MemorySharedData::new(), races_left: RefCell::new(100) };
        store.inner.set("k", b"start", None).unwrap_or_default();
        assert_eq!(update(&store, "k", |c| Some((c.to_vec(), ()))), Err(SharedDataError::CasMismatch));
    }

    /// Two workers write the same fresh key; worker B's whole write lands
    /// between worker A's read and A's write. The key was created at
    /// configure time, so A's CAS fails, A reads again, and both are kept.
    #[test]
    fn interleaved_first_writes_of_two_workers_are_both_kept() {
        struct Interleaved<'a> {
            inner: &'a MemorySharedData,
            between: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
        }
        impl SharedData for Interleaved<'_> {
            fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
                let got = self.inner.get(key);
                if let Some(other_worker) = self.between.borrow_mut().take() {
                    other_worker();
                }
                got
            }
            fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
                self.inner.set(key, value, cas)
            }
        }
        let store = MemorySharedData::new();
        // Configure time, both workers (Envoy may run them at once).
        assert_eq!(create_if_absent(&store, "k"), Ok(true));
        assert_eq!(create_if_absent(&store, "k"), Ok(false));
        let worker_b = || {
            assert_eq!(update(&store, "k", |c| Some(([c, b"B"].concat(), ()))), Ok(Some(())));
        };
        let worker_a = Interleaved { inner: &store, between: RefCell::new(Some(Box::new(worker_b))) };
        assert_eq!(update(&worker_a, "k", |c| Some(([c, b"A"].concat(), ()))), Ok(Some(())));
        assert_eq!(store.get("k").map(|(v, _)| v), Ok(Some(b"BA".to_vec())));
        // A key nobody created is never written blind (Envoy would ignore the CAS).
        assert_eq!(
            update(&store, "never-created", |c| Some((c.to_vec(), ()))),
            Err(SharedDataError::Missing("never-created".into()))
        );
        assert_eq!(store.get("never-created"), Ok((None, None)));
    }
}
