//! Prints the host calls the filter makes per request kind, counted against
//! the core's recording mock host (the same scenarios the budget tests assert):
//! `cargo run -q -p trino-gateway-core --features testing --example host_calls`.

fn main() {
    print!("{}", trino_gateway_core::call_budget::table());
}
