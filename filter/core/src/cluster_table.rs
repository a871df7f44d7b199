//! Stable one-byte ids for cluster names, shared by every worker.
//!
//! Routing records in shared data name their cluster with one byte. The byte
//! indexes this append-only table (`trino_gateway/clusters`, names separated by
//! '\n'), never the position in the plugin configuration, so records stay
//! correct when a configuration update reorders, adds or removes clusters.

use super::config::{Config, MAX_CLUSTERS};
use super::shared_data::{update, SharedData, SharedDataError};

pub const KEY: &str = "trino_gateway/v2/clusters";

/// This VM's view: table id of each configured cluster, and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIds {
    table_id_by_index: Vec<u8>,
    index_by_table_id: Vec<Option<usize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterTableError {
    Full,
    SharedData(SharedDataError),
}

impl From<SharedDataError> for ClusterTableError {
    fn from(e: SharedDataError) -> Self {
        ClusterTableError::SharedData(e)
    }
}

fn names(value: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(value).split('\n').filter(|n| !n.is_empty()).map(str::to_string).collect()
}

impl ClusterIds {
    /// Adds the configured clusters the table does not know yet and resolves ids.
    pub fn register(store: &dyn SharedData, config: &Config) -> Result<ClusterIds, ClusterTableError> {
        let mut full = false;
        update(store, KEY, |current| {
            let mut table = names(current);
            let missing: Vec<&str> =
                config.clusters.iter().map(|c| c.name.as_str()).filter(|n| !table.iter().any(|t| t == n)).collect();
            if missing.is_empty() {
                return None;
            }
            table.extend(missing.iter().map(|n| n.to_string()));
            if table.len() > MAX_CLUSTERS {
                full = true;
                return None;
            }
            Some((table.join("\n").into_bytes(), ()))
        })?;
        if full {
            return Err(ClusterTableError::Full);
        }
        let (value, _) = store.get(KEY)?;
        let table = names(value.as_deref().unwrap_or_default());
        let mut table_id_by_index = Vec::with_capacity(config.clusters.len());
        for cluster in &config.clusters {
            let id = table
                .iter()
                .position(|t| *t == cluster.name)
                .ok_or(ClusterTableError::SharedData(SharedDataError::CasMismatch))?;
            table_id_by_index.push(u8::try_from(id).map_err(|_| ClusterTableError::Full)?);
        }
        let mut index_by_table_id = vec![None; table.len()];
        for (index, id) in table_id_by_index.iter().enumerate() {
            if let Some(slot) = index_by_table_id.get_mut(usize::from(*id)) {
                *slot = Some(index);
            }
        }
        Ok(ClusterIds { table_id_by_index, index_by_table_id })
    }

    pub fn table_id(&self, config_index: usize) -> Option<u8> {
        self.table_id_by_index.get(config_index).copied()
    }

    /// The configured cluster a stored id refers to; `None` if it is no longer configured.
    pub fn config_index(&self, table_id: u8) -> Option<usize> {
        self.index_by_table_id.get(usize::from(table_id)).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::super::shared_data::MemorySharedData;
    use super::*;

    fn config(names: &[&str]) -> Config {
        let clusters: Vec<String> = names.iter().map(|n| format!(r#"{{"name": "{n}"}}"#)).collect();
        Config::parse(format!(r#"{{"clusters": [{}]}}"#, clusters.join(",")).as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ids_survive_reordering_and_removal() {
        let store = MemorySharedData::new();
        crate::shared_data::create_if_absent(&store, KEY).unwrap();
        let first = ClusterIds::register(&store, &config(&["a", "b"])).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((first.table_id(0), first.table_id(1)), (Some(0), Some(1)));
        // Another worker, same configuration: same ids, nothing written.
        assert_eq!(ClusterIds::register(&store, &config(&["a", "b"])), Ok(first.clone()));
        // A new configuration: b first, a removed, c added.
        let second = ClusterIds::register(&store, &config(&["b", "c"])).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((second.table_id(0), second.table_id(1)), (Some(1), Some(2)));
        assert_eq!(second.config_index(0), None, "a is no longer configured");
        assert_eq!(second.config_index(1), Some(0));
        assert_eq!(second.config_index(2), Some(1));
        assert_eq!(second.config_index(9), None);
    }
}
