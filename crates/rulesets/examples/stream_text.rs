//! `pathproof filter RULES --packets FILE`'s text output, from the library alone
//! (no CLI, no allocator of the binary): for profiling the stream, the parser and
//! the evaluator.
//!
//!     cargo run --release -p pathproof-rulesets --example stream_text -- RULES PACKETS [WORKERS] > out.txt

use std::io::Write;

use pathproof_rulesets::stream::{self, Line, Mode, StreamOptions};

struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rules = args.next().expect("a rule set");
    let packets = args.next().expect("a packet file");
    let mut options = StreamOptions::default();
    if let Some(w) = args.next() {
        options.workers = w.parse().expect("a number of workers");
    }
    let text = std::fs::read_to_string(&rules).expect("a readable rule set");
    let rules = pathproof_rulesets::parse_ruleset(&text).expect("a rule set");
    let emit = |l: &Line<'_>, out: &mut Vec<u8>| {
        let d = rules.evaluate_verdict(&l.packet);
        let _ = d.write_line(&mut Bytes(out));
        out.push(b'\t');
        out.extend_from_slice(l.text.as_bytes());
        out.push(b'\n');
        if let Some(t) = d.render_tie() {
            out.extend_from_slice(b"  ");
            out.extend_from_slice(t.as_bytes());
            out.push(b'\n');
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let f = std::fs::File::open(&packets).expect("a readable packet file");
    let o = stream::run(f, &mut out, &options, Mode::Decide, &emit).expect("streamed");
    out.flush().expect("flushed");
    eprintln!("{} packets, {} bad lines", o.packets, o.bad_lines);
}
