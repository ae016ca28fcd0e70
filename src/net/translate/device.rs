//! The tap as smoltcp's device: frames read by the event loop wait in a
//! queue (so the loop can look at them first, and hold a SYN until the
//! host's connect is done), transmitted frames go straight to the tap.
//! Frame buffers are reused, never allocated per packet.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::net::addr;

/// The largest frame on the tap: the MTU and an Ethernet header.
pub const FRAME_MAX: usize = addr::MTU as usize + 14;

pub struct Tap {
    file: File,
    /// Frames read, waiting for the stack.
    queue: VecDeque<Vec<u8>>,
    /// Spare frame buffers.
    pool: Vec<Vec<u8>>,
    tx: Vec<u8>,
}

impl Tap {
    pub fn new(file: File) -> Tap {
        Tap {
            file,
            queue: VecDeque::new(),
            pool: Vec::new(),
            tx: vec![0; FRAME_MAX],
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Read one frame (None: nothing waiting, or an error).
    pub fn read(&mut self) -> Option<Vec<u8>> {
        let mut buf = self.pool.pop().unwrap_or_else(|| vec![0; FRAME_MAX]);
        buf.resize(FRAME_MAX, 0);
        match (&self.file).read(&mut buf) {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                Some(buf)
            }
            _ => {
                self.pool.push(buf);
                None
            }
        }
    }

    /// Hand a frame to the stack (at its next poll).
    pub fn queue(&mut self, frame: Vec<u8>) {
        self.queue.push_back(frame);
    }

    /// Give a buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < 256 {
            self.pool.push(buf);
        }
    }

    /// Write a frame built outside the stack (ICMP echo replies).
    pub fn send(&mut self, frame: &[u8]) {
        let _ = (&self.file).write(frame);
    }
}

pub struct RxToken<'a> {
    frame: Vec<u8>,
    pool: &'a mut Vec<Vec<u8>>,
}

pub struct TxToken<'a> {
    file: &'a File,
    buf: &'a mut Vec<u8>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        if self.pool.len() < 256 {
            self.pool.push(self.frame);
        }
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let r = f(&mut self.buf[..len]);
        // A full queue in the container drops the frame, as a wire would.
        let _ = (&*self.file).write(&self.buf[..len]);
        r
    }
}

impl phy::Device for Tap {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let frame = self.queue.pop_front()?;
        Some((
            RxToken {
                frame,
                pool: &mut self.pool,
            },
            TxToken {
                file: &self.file,
                buf: &mut self.tx,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            file: &self.file,
            buf: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        // The container's kernel made these frames over a memory-only
        // link: checksums are computed for it, not checked from it.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps.checksum.icmpv6 = Checksum::Tx;
        caps
    }
}
