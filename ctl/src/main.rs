//! Wiring only: parse the command line, run, exit with the command's code.

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match ctl::args::parse(&argv, |name| std::env::var(name).ok()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ctl: {e}\n\n{}", ctl::args::USAGE);
            std::process::exit(2);
        }
    };
    std::process::exit(ctl::run(args).await);
}
