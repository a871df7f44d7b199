//! Property tests for every parser of the core: arbitrary input never panics,
//! encodings round trip, and a damaged shared-data record is skipped, never
//! read as another cluster.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use proptest::prelude::*;
use trino_gateway_core::classify::{classify, RequestKind};
use trino_gateway_core::config::Config;
use trino_gateway_core::coordinator_map::{self, Entry};
use trino_gateway_core::headers::{relayed_response_headers, resend_headers};
use trino_gateway_core::health::{self, ClusterHealth, Health};
use trino_gateway_core::query_id::{CoordinatorId, QueryId};
use trino_gateway_core::query_map::{self, QueryMap, Record, RECORD_SIZE};
use trino_gateway_core::router::{Learned, Router};
use trino_gateway_core::shared_data::{create_if_absent, MemorySharedData, SharedData};

fn query_id() -> impl Strategy<Value = QueryId> {
    // Trino's coordinator-id alphabet: lower-case letters and digits without l, o, 0, 1.
    "[0-9]{8}_[0-9]{6}_[0-9]{5}_[a-km-np-z2-9]{5}"
        .prop_map(|text| QueryId::parse(&text).unwrap_or_else(|| panic!("{text}")))
}

fn coordinator_id() -> impl Strategy<Value = CoordinatorId> {
    "[a-km-np-z2-9]{5}".prop_map(|text| CoordinatorId::parse(&text).unwrap_or_else(|| panic!("{text}")))
}

fn router(store: &MemorySharedData) -> Router {
    let config =
        Config::parse(br#"{"clusters": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "max_tracked_queries": 64}"#);
    Router::new(config.unwrap_or_else(|e| panic!("{e}")), store).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Text that looks like what a client or a coordinator sends, and some that does not.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(/[a-zA-Z0-9_.%?&=-]{0,30}){0,7}",
        query_id().prop_flat_map(|id| {
            prop_oneof![
                Just(format!("/v1/statement/queued/{id}/y1/1")),
                Just(format!("/v1/statement/executing/{id}/y2/3?maxWait=1s")),
                Just(format!("/v1/statement/executing/partialCancel/{id}/3/y/2")),
                Just(format!("/v1/query/{id}")),
                Just(format!("/ui/query.html?{id}")),
            ]
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn classify_never_panics_and_only_routes_ids_a_coordinator_could_make(method in "[A-Za-z]{0,8}", path in path()) {
        if let RequestKind::QueryBound { query_id, .. } = classify(&method, &path) {
            prop_assert_eq!(QueryId::parse(query_id.as_str()), Some(query_id));
            prop_assert!(path.contains(query_id.as_str()));
        }
    }

    #[test]
    fn protocol_paths_of_real_ids_are_bound_to_their_query(id in query_id(), slug in "y[0-9a-f]{1,40}", token in 0u32..10_000) {
        for path in [format!("/v1/statement/queued/{id}/{slug}/{token}"), format!("/v1/statement/executing/{id}/{slug}/{token}")] {
            let bound = matches!(classify("GET", &path), RequestKind::QueryBound { query_id, .. } if query_id == id);
            prop_assert!(bound, "{}", path);
        }
    }

    #[test]
    fn query_ids_parse_only_in_trinos_shape(text in any::<String>()) {
        if let Some(id) = QueryId::parse(&text) {
            prop_assert_eq!(id.as_str(), text.as_str());
            prop_assert_eq!(text.len(), 27);
        }
    }

    #[test]
    fn query_ids_round_trip(id in query_id()) {
        prop_assert_eq!(QueryId::parse(id.as_str()), Some(id));
        prop_assert_eq!(QueryId::from_bytes(id.as_bytes()), Some(id));
        prop_assert!(id.as_str().ends_with(id.coordinator_id().as_str()));
        prop_assert!(id.bucket(1024) < 1024);
    }

    #[test]
    fn any_configuration_bytes_give_a_configuration_or_an_error_naming_a_field(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = Config::parse(&bytes) {
            prop_assert!(!e.field.is_empty());
        }
    }

    #[test]
    fn damaged_configurations_are_refused_with_the_field_named(
        key in "[a-z_]{1,12}",
        value in prop_oneof![Just("1".to_string()), Just("\"x\"".to_string()), Just("[]".to_string()), Just("{}".to_string()), Just("null".to_string())],
        cut in 0usize..120,
    ) {
        let valid = r#"{"clusters": [{"name": "a"}], "health": {"interval_ms": 500}}"#;
        // An unknown or mistyped field is an error that names it.
        let with_field = format!(r#"{{"clusters": [{{"name": "a"}}], "{key}": {value}}}"#);
        if let Err(e) = Config::parse(with_field.as_bytes()) {
            prop_assert!(e.field == key || e.field.starts_with(&format!("{key}.")) || e.field == "(configuration)", "{} for {}", e, with_field);
        }
        // Any truncation of a valid document fails cleanly (or is the whole document).
        let truncated = &valid.as_bytes()[..cut.min(valid.len())];
        prop_assert_eq!(Config::parse(truncated).is_ok(), truncated.len() == valid.len());
    }

    #[test]
    fn any_statement_answer_teaches_its_own_id_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let store = MemorySharedData::new();
        let router = router(&store);
        match router.learn_statement_response(&store, 1, &bytes, 5, &[], 0) {
            Ok(Learned::Query(id)) => prop_assert!(bytes.windows(27).any(|w| w == id.as_bytes())),
            Ok(Learned::Unparseable) => {}
            Err(e) => prop_assert!(false, "{:?}", e),
        }
    }

    #[test]
    fn truncated_statement_answers_never_record_another_query(id in query_id(), cut in 0usize..200) {
        let store = MemorySharedData::new();
        let router = router(&store);
        let body = format!(r#"{{"id":"{id}","infoUri":"http://g/ui/query.html?{id}","nextUri":"http://g/v1/statement/queued/{id}/y/1","stats":{{"state":"QUEUED"}}}}"#);
        let cut = cut.min(body.len());
        let learned = router.learn_statement_response(&store, 2, &body.as_bytes()[..cut], 5, &[], 0);
        prop_assert_eq!(learned, Ok(if cut == body.len() { Learned::Query(id) } else { Learned::Unparseable }));
    }

    #[test]
    fn query_map_records_round_trip(id in query_id(), cluster in any::<u8>(), seen_at in any::<u32>()) {
        let record = Record { query_id: id, cluster, seen_at };
        prop_assert_eq!(Record::decode(&record.encode()), Some(record));
    }

    #[test]
    fn a_damaged_query_record_is_skipped_never_misread(
        id in query_id(), cluster in 0u8..3, at in 0usize..RECORD_SIZE, delta in 1u8..=255,
    ) {
        let store = MemorySharedData::new();
        let map = QueryMap { buckets: 4 };
        let key = query_map::bucket_key(id.bucket(4));
        create_if_absent(&store, &key).unwrap_or_default();
        map.record(&store, id, cluster, 7).unwrap_or_else(|e| panic!("{e:?}"));
        let (value, _) = store.get(&key).unwrap_or_default();
        let mut damaged = value.unwrap_or_default();
        damaged[at] = damaged[at].wrapping_add(delta);
        store.set(&key, &damaged, None).unwrap_or_default();
        prop_assert_eq!(map.lookup(&store, &id), Ok(None));
        prop_assert_eq!(query_map::records(&damaged).count(), 0);
    }

    #[test]
    fn any_bucket_value_is_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), id in query_id()) {
        for record in query_map::records(&bytes) {
            prop_assert_eq!(QueryId::parse(record.query_id.as_str()), Some(record.query_id));
        }
        let store = MemorySharedData::new();
        let map = QueryMap { buckets: 1 };
        store.set(&query_map::bucket_key(0), &bytes, None).unwrap_or_default();
        prop_assert!(map.lookup(&store, &id).is_ok());
    }

    #[test]
    fn coordinator_entries_round_trip_and_damage_is_skipped(
        entries in proptest::collection::vec((coordinator_id(), any::<u8>(), any::<u32>()), 0..8),
        at in any::<usize>(), delta in 1u8..=255,
    ) {
        let entries: Vec<Entry> = entries.into_iter().map(|(coordinator, cluster, seen_at)| Entry { coordinator, cluster, seen_at }).collect();
        let encoded = coordinator_map::encode(&entries);
        prop_assert_eq!(coordinator_map::entries(&encoded), entries.clone());
        if !encoded.is_empty() {
            let mut damaged = encoded.clone();
            let at = at % damaged.len();
            damaged[at] = damaged[at].wrapping_add(delta);
            let read = coordinator_map::entries(&damaged);
            prop_assert_eq!(read.len() + 1, entries.len(), "exactly the damaged entry is skipped");
            prop_assert!(read.iter().all(|e| entries.contains(e)));
        }
    }

    #[test]
    fn health_records_round_trip_and_any_stored_value_reads(
        cluster in any::<u8>(), state in 0u8..5, coordinator in proptest::option::of(coordinator_id()),
        updated_at in any::<u32>(), running in any::<u32>(), queued in any::<u32>(), restarted_at in any::<u32>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let health = [Health::Unknown, Health::Healthy, Health::Starting, Health::Draining, Health::Unhealthy][state as usize];
        let record = ClusterHealth { cluster, health, coordinator, updated_at, running, queued, restarted_at };
        let store = MemorySharedData::new();
        create_if_absent(&store, health::KEY).unwrap_or_default();
        health::publish(&store, record).unwrap_or_else(|e| panic!("{e:?}"));
        prop_assert_eq!(health::of(&health::read(&store).unwrap_or_default(), cluster), record);
        store.set(health::KEY, &garbage, None).unwrap_or_default();
        prop_assert!(health::read(&store).is_ok());
    }

    #[test]
    fn header_rules_never_panic_and_never_forward_the_routing_header(
        headers in proptest::collection::vec(("[a-z:-]{1,20}", "[ -~]{0,20}"), 0..20), forwarded in any::<bool>(),
    ) {
        let kept = resend_headers(headers.clone(), "x-gw", forwarded);
        prop_assert!(kept.iter().all(|(n, _)| n != "x-gw" && n != "forwarded" && n != "x-forwarded-host" || (forwarded && n == "x-forwarded-host")));
        let relayed = relayed_response_headers(headers);
        prop_assert!(relayed.iter().all(|(n, _)| !n.starts_with(':') && n != "content-length"));
    }
}

#[test]
fn a_huge_statement_answer_is_read_once_and_learned() {
    let store = MemorySharedData::new();
    let router = router(&store);
    let id = "20261125_101305_00001_abcde";
    let body = format!(r#"{{"id":"{id}","warnings":[],"padding":"{}","stats":{{}}}}"#, "x".repeat(4 << 20));
    let learned = router.learn_statement_response(&store, 0, body.as_bytes(), 1, &[], 0);
    assert_eq!(learned, Ok(QueryId::parse(id).map_or(Learned::Unparseable, Learned::Query)));
}
