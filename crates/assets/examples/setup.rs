//! Runs a real setup of every component into the default cache (what `isobench setup` does).
//!
//! `cargo run --release -p isobench-assets --example setup -- [--verify] [--offline]`

use isobench_assets::{cache_dir, Component, Setup};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let setup = Setup::new(cache_dir())
        .verify(args.iter().any(|a| a == "--verify"))
        .offline(args.iter().any(|a| a == "--offline"))
        .on_progress(|p| eprintln!("{p}"));
    match setup.ensure(&Component::ALL) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
