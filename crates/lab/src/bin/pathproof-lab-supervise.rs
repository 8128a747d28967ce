//! The lab supervisor as a stand-alone program, for the crate's own tests.
//! The `pathproof` binary runs the same code as `pathproof lab supervise`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lab = match args.iter().position(|a| a == "--lab") {
        Some(i) if i + 1 < args.len() => args[i + 1].clone(),
        _ => {
            eprintln!("usage: pathproof-lab-supervise --lab LAB");
            std::process::exit(2);
        }
    };
    if let Err(e) = pathproof_lab::services::supervise(&lab) {
        eprintln!("pathproof lab supervisor: {e}");
        std::process::exit(1);
    }
}
