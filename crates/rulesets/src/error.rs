//! Parse errors shared by the rule-set parsers and the packet-line parser.

use std::fmt;

/// A parse error with a 1-based line and column (column 0 = unknown / whole line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number in the parsed text (1 for a packet line).
    pub line: usize,
    /// 1-based column (in characters) where the problem starts; 0 when not known.
    pub column: usize,
    /// What went wrong, naming the construct.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column == 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}
