//! Filter: first match in an ordered rule list, then the default policy.
//! A stateful filter lets packets of a connection it already allowed through
//! before any rule is read, as `ct state established,related accept` does.

use crate::model::{Action, ConnState, Filter, MatchInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// The implicit first rule of a stateful filter.
    Established,
    /// Rule number `i` (0-based) in the filter.
    Rule(usize),
    /// No rule matched.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterDecision {
    pub action: Action,
    pub by: Decider,
}

pub fn evaluate(filter: &Filter, p: &MatchInput) -> FilterDecision {
    if filter.stateful && matches!(p.state, ConnState::Established | ConnState::Related) {
        return FilterDecision {
            action: Action::Allow,
            by: Decider::Established,
        };
    }
    for (i, rule) in filter.rules.iter().enumerate() {
        if rule.matches.matches(p) {
            return FilterDecision {
                action: rule.action,
                by: Decider::Rule(i),
            };
        }
    }
    FilterDecision {
        action: filter.default,
        by: Decider::Default,
    }
}
