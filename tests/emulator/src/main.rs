use clap::Parser;
use std::sync::Arc;
use trino_emulator::config::Config;
use trino_emulator::coordinator::Coordinator;

fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trino-emulator: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let coordinator = Arc::new(Coordinator::new(config.clone()).map_err(std::io::Error::other)?);
        if config.spooling {
            let storage = tokio::net::TcpListener::bind(config.spooling_storage_listen).await?;
            let address = storage.local_addr()?;
            coordinator.set_storage_address(address);
            println!(
                "trino-emulator node={} spooling ({:?} retrieval) storage on http://{address}",
                config.node_id, config.spooling_retrieval_mode
            );
            let storage_task = trino_emulator::server::serve_storage(
                storage,
                coordinator.clone(),
                config.node_id.clone(),
                !config.no_request_log,
            );
            tokio::spawn(storage_task);
        }
        println!(
            "trino-emulator node={} coordinatorId={} listening on http://{} (process-forwarded={}, startup-ms={}, page-rows={})",
            config.node_id,
            coordinator.coordinator_id(),
            listener.local_addr()?,
            config.process_forwarded,
            config.startup_ms,
            config.page_rows
        );
        trino_emulator::server::serve(listener, coordinator, config.node_id.clone(), !config.no_request_log).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trino-emulator: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
