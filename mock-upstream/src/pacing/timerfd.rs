//! The Linux `timerfd` behind [`super::PreciseTimer`]: created non-blocking, armed one-shot at an
//! absolute CLOCK_MONOTONIC deadline, and read once per expiry. [`ArcFd`] is the shared descriptor
//! as the runtime's I/O driver watches it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// The timerfd, closed when the last of the driver and the handles lets go of it.
pub(super) struct TimerFd(OwnedFd);

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl TimerFd {
    /// A fresh non-blocking, close-on-exec timerfd on CLOCK_MONOTONIC, disarmed.
    pub(super) fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; a non-negative return is a fresh fd this process owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(TimerFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Fires once at `at_ns` (absolute CLOCK_MONOTONIC); 0 disarms.
    pub(super) fn arm(&self, at_ns: u64) {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec, the fd is a timerfd we own, old value not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        debug_assert_eq!(rc, 0, "timerfd_settime on our own timerfd cannot fail");
    }

    /// Consumes a pending expiry; `WouldBlock` when there was none.
    pub(super) fn read_expiry(&self) -> io::Result<()> {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer from a fd we own.
        let n = unsafe { libc::read(self.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The shared timerfd as the driver's `AsyncFd` sees it.
pub(super) struct ArcFd(pub(super) Arc<TimerFd>);

impl AsRawFd for ArcFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
