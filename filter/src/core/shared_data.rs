//! The one host facility the routing state needs: Envoy's process-wide shared
//! data (a key → (bytes, cas) map shared by every worker VM with the same
//! vm_id). Behind a trait so the core runs natively in `cargo test`.

use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedDataError {
    /// Another worker wrote the key since we read it.
    CasMismatch,
    /// Any other host failure (with the host's status, for the log).
    Host(String),
}

pub trait SharedData {
    /// The value and its CAS token; `(None, None)` when the key does not exist.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError>;
    /// Write; with `cas` the write fails with `CasMismatch` if the key changed.
    /// As in Envoy, a `cas` is ignored when the key does not exist yet.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError>;
}

/// How often a read-modify-write is retried when other workers race us.
pub const CAS_ATTEMPTS: usize = 8;

/// Read-modify-write with optimistic concurrency. `update` returns the new
/// value, or `None` when nothing needs writing. Returns what was written.
pub fn update<S: SharedData + ?Sized, T>(
    store: &S,
    key: &str,
    mut update: impl FnMut(&[u8]) -> Option<(Vec<u8>, T)>,
) -> Result<Option<T>, SharedDataError> {
    for _ in 0..CAS_ATTEMPTS {
        let (current, cas) = store.get(key)?;
        let Some((value, result)) = update(current.as_deref().unwrap_or_default()) else {
            return Ok(None);
        };
        match store.set(key, &value, cas) {
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
        Ok(match self.map.borrow().get(key) {
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
}
