//! The `isobench` command: parses arguments and calls the libraries.

mod cli;
mod cold_start;
mod commands;
mod density;
mod interference;
mod mode;
mod out;
mod progress;
mod reports;
mod serve;
mod setup;

/// Clap's error as one line: `error: invalid value 'x' for '--flag <V>' [possible values: a, b]`.
fn one_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"));
    let mut line = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    for rest in lines {
        line.push(' ');
        line.push_str(rest);
    }
    line
}

fn main() {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = cli::Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((cli::Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}; see `isobench --help`", one_line(&e));
            std::process::exit(2);
        }
    };
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ISOBENCH_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colour escapes only on a terminal: a log file reads `WARN`, not `\e[33m WARN\e[0m`.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
    match commands::dispatch(cli, &matches) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            // One line: the chain of causes joined.
            let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
            let mut message = chain[0].clone();
            for cause in &chain[1..] {
                if !message.contains(cause.as_str()) {
                    message.push_str(": ");
                    message.push_str(cause);
                }
            }
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    }
}
