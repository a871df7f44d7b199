//! `SharedData` over Envoy's shared data host calls.

use crate::core::shared_data::{SharedData, SharedDataError};
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

pub struct HostSharedData;

impl SharedData for HostSharedData {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), SharedDataError> {
        hostcalls::get_shared_data(key)
            .map_err(|status| SharedDataError::Host(format!("get_shared_data({key}): {status:?}")))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SharedDataError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|status| match status {
            Status::CasMismatch => SharedDataError::CasMismatch,
            other => SharedDataError::Host(format!("set_shared_data({key}): {other:?}")),
        })
    }
}
