//! Packet lines streamed: read in bounded chunks, parsed and decided on worker
//! threads, written in input order (what `pathproof filter --packets FILE` runs on).
//!
//! One reader thread cuts the input into chunks of whole lines (about
//! [`StreamOptions::chunk_bytes`] each) and hands them out in turn to the
//! workers; each worker parses its chunk's packet lines and writes, for each
//! packet, what the caller's `emit` writes; the calling thread writes the
//! chunks' output in the order the chunks were read. Every queue is bounded
//! (`queue` chunks per worker each way), so memory depends on the chunk size
//! and the number of workers, never on the number of packets; and the output is
//! byte for byte what deciding the packets one after another would give.
//!
//! Lines are numbered from 1 as [`str::lines`] numbers them; each is trimmed;
//! blank lines and `#` comments are skipped. A bad line is one that is not
//! UTF-8, is longer than [`StreamOptions::max_line`] bytes, or that
//! [`parse_packet`] refuses; it is reported as a [`BadLine`] (line and column in
//! the file).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::packet::{parse_packet, Packet};

/// How the stream is cut and run.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Bytes of input per chunk: a chunk ends with the first line that reaches it
    /// (so it holds at least one line).
    pub chunk_bytes: usize,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Chunks queued per worker, on the way in and on the way out (at least 1).
    pub queue: usize,
    /// The longest line read, in bytes without its newline; a longer one is a bad line.
    pub max_line: usize,
}

impl Default for StreamOptions {
    /// Chunks of 128 KiB (about 3,000 packet lines), one worker per core (up to 8),
    /// two chunks queued each way, lines of up to 64 KiB.
    fn default() -> Self {
        StreamOptions {
            chunk_bytes: 128 * 1024,
            workers: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, 8),
            queue: 2,
            max_line: 64 * 1024,
        }
    }
}

/// What to do with the packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decide and write every packet up to the first bad line, and stop there.
    Decide,
    /// Only read every line (write nothing) and report the bad ones: the first
    /// `max_reported` of them in [`Outcome::bad`], all of them counted.
    Validate {
        /// How many bad lines [`Outcome::bad`] keeps.
        max_reported: usize,
    },
}

/// A line that is not a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line in the input.
    pub line: usize,
    /// 1-based column (in characters) in the line as written, before trimming.
    pub column: usize,
    /// What was expected, and what was there.
    pub message: String,
}

/// One packet line, for [`run`]'s `emit`.
pub struct Line<'a> {
    /// 1-based line in the input.
    pub number: usize,
    /// The line, trimmed.
    pub text: &'a str,
    /// The packet it reads as.
    pub packet: Packet,
}

/// How a stream ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Packets read (and, with [`Mode::Decide`], written).
    pub packets: u64,
    /// [`Mode::Decide`]: the bad line the stream stopped at, if any (nothing after it was
    /// decided). [`Mode::Validate`]: the first bad lines.
    pub bad: Vec<BadLine>,
    /// Bad lines seen (with [`Mode::Decide`], 0 or 1).
    pub bad_lines: u64,
    /// The output went away (a closed pipe): the stream stopped there.
    pub closed: bool,
}

/// Why a stream could not go on.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the input failed (after the chunks before it were written).
    Read(io::Error),
    /// Writing the output failed (other than a closed pipe, which ends quietly).
    Write(io::Error),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Read(e) => write!(f, "cannot read the packets: {e}"),
            StreamError::Write(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl std::error::Error for StreamError {}

/// A chunk of whole lines.
struct Chunk {
    /// Number of its first line.
    first_line: usize,
    data: Vec<u8>,
    /// The line after the chunk's lines is longer than `max_line` (its bytes are not
    /// in the chunk).
    too_long: bool,
}

/// A chunk done.
#[derive(Default)]
struct Done {
    out: Vec<u8>,
    packets: u64,
    bad: Vec<BadLine>,
    bad_lines: u64,
}

/// Reads `input` to the end (or to the first bad line, with [`Mode::Decide`]); for
/// every packet line, calls `emit` on a worker thread, and writes what it wrote to
/// `out`, in the order of the lines.
///
/// With [`Mode::Decide`], the output of every packet before the first bad line is
/// written, and nothing after it is decided. A closed pipe ends the stream quietly
/// ([`Outcome::closed`]). `out` is written in pieces of a chunk's output each; it is
/// not flushed.
pub fn run<R, W, E>(
    input: R,
    out: &mut W,
    options: &StreamOptions,
    mode: Mode,
    emit: &E,
) -> Result<Outcome, StreamError>
where
    R: Read + Send,
    W: Write + ?Sized,
    E: Fn(&Line<'_>, &mut Vec<u8>) + Sync,
{
    let workers = options.workers.max(1);
    let queue = options.queue.max(1);
    let mut outcome = Outcome::default();
    let mut write_error: Option<io::Error> = None;
    let read_result = std::thread::scope(|s| {
        let mut to_workers: Vec<SyncSender<Chunk>> = Vec::with_capacity(workers);
        let mut from_workers: Vec<Receiver<Done>> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx_in, rx_in) = sync_channel::<Chunk>(queue);
            let (tx_out, rx_out) = sync_channel::<Done>(queue);
            to_workers.push(tx_in);
            from_workers.push(rx_out);
            let max_line = options.max_line;
            s.spawn(move || {
                for chunk in rx_in {
                    let done = work(&chunk, mode, max_line, emit);
                    if tx_out.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        let reader = s.spawn(move || read_chunks(input, options, to_workers));
        // The writer: chunk n comes from worker n % workers.
        let mut next = 0usize;
        while let Ok(done) = from_workers[next % workers].recv() {
            next += 1;
            outcome.packets += done.packets;
            outcome.bad_lines += done.bad_lines;
            if let Mode::Validate { max_reported } = mode {
                let room = max_reported.saturating_sub(outcome.bad.len());
                outcome.bad.extend(done.bad.into_iter().take(room));
            } else {
                outcome.bad.extend(done.bad);
            }
            if !done.out.is_empty() {
                if let Err(e) = out.write_all(&done.out) {
                    if e.kind() == io::ErrorKind::BrokenPipe {
                        outcome.closed = true;
                    } else {
                        write_error = Some(e);
                    }
                    break;
                }
            }
            if mode == Mode::Decide && outcome.bad_lines > 0 {
                break;
            }
        }
        // Hang up: the workers and the reader see their sends fail and end.
        drop(from_workers);
        reader.join().expect("the reader does not panic")
    });
    if let Some(e) = write_error {
        return Err(StreamError::Write(e));
    }
    let stopped_early = outcome.closed || (mode == Mode::Decide && outcome.bad_lines > 0);
    match read_result {
        Err(e) if !stopped_early => Err(StreamError::Read(e)),
        _ => Ok(outcome),
    }
}

/// The reader: cuts `input` into chunks and deals them out in turn until the end
/// of the input or until a worker hangs up.
fn read_chunks<R: Read>(
    input: R,
    options: &StreamOptions,
    to_workers: Vec<SyncSender<Chunk>>,
) -> io::Result<()> {
    let mut r = BufReader::with_capacity(64 * 1024, input);
    let chunk_bytes = options.chunk_bytes.max(1);
    let limit = options.max_line as u64 + 1;
    let mut line = 1usize;
    for seq in 0usize.. {
        let mut chunk = Chunk {
            first_line: line,
            data: Vec::with_capacity(chunk_bytes.min(1 << 20) + 128),
            too_long: false,
        };
        let mut eof = false;
        while chunk.data.len() < chunk_bytes {
            let start = chunk.data.len();
            let n = (&mut r).take(limit).read_until(b'\n', &mut chunk.data)?;
            if n == 0 {
                eof = true;
                break;
            }
            if chunk.data.last() != Some(&b'\n') && n as u64 == limit {
                // Longer than max_line: leave its bytes out, skip to its end.
                chunk.data.truncate(start);
                chunk.too_long = true;
                eof = skip_line(&mut r)?;
                line += 1;
                break;
            }
            line += 1;
        }
        if chunk.data.is_empty() && !chunk.too_long {
            return Ok(());
        }
        if to_workers[seq % to_workers.len()].send(chunk).is_err() || eof {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads to the end of the line; true at the end of the input.
fn skip_line<R: BufRead>(r: &mut R) -> io::Result<bool> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(true);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(p) => {
                r.consume(p + 1);
                return Ok(false);
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// Reads one line: the packet and its trimmed text, nothing for a blank line or a
/// comment, or what is wrong with it.
pub fn read_line(number: usize, raw: &[u8]) -> Result<Option<Line<'_>>, BadLine> {
    let raw = match std::str::from_utf8(raw) {
        Ok(s) => s,
        Err(e) => {
            let ok = e.valid_up_to();
            let column = std::str::from_utf8(&raw[..ok]).map_or(ok, |s| s.chars().count()) + 1;
            return Err(BadLine {
                line: number,
                column,
                message: format!("expected UTF-8 text, got the byte 0x{:02x}", raw[ok]),
            });
        }
    };
    let text = raw.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    match parse_packet(text) {
        Ok(packet) => Ok(Some(Line {
            number,
            text,
            packet,
        })),
        Err(e) => {
            let lead = raw.len() - raw.trim_start().len();
            Err(BadLine {
                line: number,
                column: raw[..lead].chars().count() + e.column,
                message: e.message,
            })
        }
    }
}

/// A worker's work on one chunk.
fn work<E>(chunk: &Chunk, mode: Mode, max_line: usize, emit: &E) -> Done
where
    E: Fn(&Line<'_>, &mut Vec<u8>) + Sync,
{
    let mut done = Done {
        out: Vec::with_capacity(if mode == Mode::Decide {
            chunk.data.len() * 3
        } else {
            0
        }),
        ..Done::default()
    };
    let mut number = chunk.first_line;
    let mut rest = &chunk.data[..];
    while !rest.is_empty() {
        let (raw, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        match read_line(number, raw) {
            Ok(None) => {}
            Ok(Some(line)) => {
                done.packets += 1;
                if mode == Mode::Decide {
                    emit(&line, &mut done.out);
                }
            }
            Err(bad) => {
                done.bad_lines += 1;
                match mode {
                    Mode::Decide => {
                        done.bad.push(bad);
                        return done;
                    }
                    Mode::Validate { max_reported } => {
                        if done.bad.len() < max_reported {
                            done.bad.push(bad);
                        }
                    }
                }
            }
        }
        number += 1;
    }
    if chunk.too_long {
        done.bad_lines += 1;
        done.bad.push(BadLine {
            line: number,
            column: 1,
            message: format!("expected a packet line, got a line longer than {max_line} bytes"),
        });
    }
    done
}
