//! The open connections, at most `Limits::connections` of them, kept below
//! the open-file limit.
//!
//! A connection is *busy* while a request of it is being answered, and
//! *idle* otherwise: before its first request's headers are complete (a
//! client that connected and sends nothing, or sends its headers slowly),
//! and between requests on a kept-alive connection. When every place is
//! taken, a new connection closes the one that has been idle longest, so
//! that connections held open without a request cannot lock others out;
//! when every connection is busy, the server accepts no more until one
//! finishes (the next wait in the kernel's queue).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, Notify};

pub(crate) struct Conns {
    max: usize,
    inner: Mutex<Inner>,
    freed: Notify,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Ticks when a connection became idle (its id when it opened).
    tick: u64,
    open: BTreeMap<u64, Conn>,
}

struct Conn {
    busy: usize,
    idle_since: u64,
    close: Option<oneshot::Sender<()>>,
}

/// A connection's place: frees it when dropped.
pub(crate) struct Place {
    conns: Arc<Conns>,
    id: u64,
}

/// A request being answered on a connection: the connection is busy until dropped.
pub(crate) struct Busy {
    conns: Arc<Conns>,
    id: u64,
}

impl Conns {
    pub(crate) fn new(max: usize) -> Arc<Conns> {
        Arc::new(Conns {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a new connection may be accepted: at once while there is
    /// room, else after closing the connection idle longest, else (every
    /// connection busy) until one closes.
    pub(crate) async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            {
                let mut inner = self.lock();
                if inner.open.len() < self.max {
                    return;
                }
                // Connections already told to close still count until they
                // have; close one more only when none is on its way out.
                let closing = inner.open.values().any(|c| c.close.is_none());
                if !closing {
                    let oldest = inner
                        .open
                        .iter_mut()
                        .filter(|(_, c)| c.busy == 0)
                        .min_by_key(|(_, c)| c.idle_since)
                        .map(|(_, c)| c);
                    if let Some(c) = oldest {
                        if let Some(tx) = c.close.take() {
                            let _ = tx.send(());
                        }
                    }
                }
            }
            freed.await;
        }
    }

    /// A place for a connection just accepted, and the signal that closes it.
    pub(crate) fn open(self: &Arc<Self>) -> (Place, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.tick += 1;
        let idle_since = inner.tick;
        inner.open.insert(
            id,
            Conn {
                busy: 0,
                idle_since,
                close: Some(tx),
            },
        );
        (
            Place {
                conns: self.clone(),
                id,
            },
            rx,
        )
    }

    #[cfg(test)]
    fn open_now(&self) -> usize {
        self.lock().open.len()
    }
}

impl Place {
    /// Marks the connection busy while a request of it is answered.
    pub(crate) fn busy(&self) -> Busy {
        if let Some(c) = self.conns.lock().open.get_mut(&self.id) {
            c.busy += 1;
        }
        Busy {
            conns: self.conns.clone(),
            id: self.id,
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.conns.lock().open.remove(&self.id);
        self.conns.freed.notify_waiters();
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut inner = self.conns.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(c) = inner.open.get_mut(&self.id) {
            c.busy -= 1;
            if c.busy == 0 {
                c.idle_since = tick;
            }
        }
        drop(inner);
        // A connection waiting for room may now close this one.
        self.conns.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_longest_idle_connection_makes_room() {
        let conns = Conns::new(2);
        let (a, mut a_close) = conns.open();
        let (b, mut b_close) = conns.open();
        // `a` is busy: `b` is the one closed.
        let busy_a = a.busy();
        let waiting = tokio::spawn({
            let conns = conns.clone();
            async move { conns.room().await }
        });
        tokio::time::timeout(Duration::from_secs(5), &mut b_close)
            .await
            .expect("the idle connection is told to close")
            .unwrap();
        assert!(a_close.try_recv().is_err());
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("room once it closed")
            .unwrap();
        // Every connection busy: no room until one is idle, then it closes.
        let (c, mut c_close) = conns.open();
        let busy_c = c.busy();
        let waiting = tokio::spawn({
            let conns = conns.clone();
            async move { conns.room().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        assert!(a_close.try_recv().is_err() && c_close.try_recv().is_err());
        drop(busy_c);
        tokio::time::timeout(Duration::from_secs(5), &mut c_close)
            .await
            .expect("the connection that became idle is told to close")
            .unwrap();
        drop(c);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        drop(busy_a);
        drop(a);
        assert_eq!(conns.open_now(), 0);
    }
}
