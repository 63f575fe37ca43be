//! Wiring only: parse the command line, run, exit with the command's code.

#[tokio::main]
async fn main() {
    let cli = match ctl::cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        // `--help`, `help`: printed to stdout, exit 0
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", ctl::cli::usage_error(&e));
            std::process::exit(2);
        }
    };
    std::process::exit(ctl::run(cli).await);
}
