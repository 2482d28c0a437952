//! Hands each invocation's X-Ray trace header to AWS SDKs, which read it from `_X_AMZN_TRACE_ID`.
//!
//! `std::env::set_var` would do it, at a price: glibc's `setenv` keeps every distinct value it
//! was ever given, so that pointers `getenv` handed out stay valid. A new trace id per
//! invocation therefore leaks one string per invocation (140 MB over a million invocations,
//! measured), and each call walks the whole environment. Instead the variable is one buffer of
//! our own, put into the environment once with `putenv` and rewritten in place.

use std::ffi::c_char;
use std::ptr::NonNull;

use crate::context::{HeaderStr, InvocationText};

const TRACE_ID_VAR: &str = "_X_AMZN_TRACE_ID";
const PREFIX: &[u8] = b"_X_AMZN_TRACE_ID=";
/// Room for the header as Lambda sends it today (`Root=...;Parent=...;Sampled=...;Lineage=...`,
/// about 100 bytes) several times over; a longer one goes through `set_var`.
const CAPACITY: usize = 512;

/// The trace variable of a loop that runs one invocation at a time.
#[derive(Debug, Default)]
pub(crate) struct TraceEnv {
    /// `_X_AMZN_TRACE_ID=<value>\0`, leaked on first use: the environment points into it.
    buffer: Option<NonNull<u8>>,
    /// Whether the environment's entry is `buffer` (and not a value `set_var` put there).
    in_environ: bool,
    last: Option<HeaderStr>,
}

impl TraceEnv {
    /// Makes `_X_AMZN_TRACE_ID` hold the invocation's trace header, or removes it.
    ///
    /// Call it only between invocations of a loop that runs one at a time.
    pub(crate) fn update(&mut self, text: &InvocationText) {
        let trace_id = text.xray_trace_id();
        let unchanged = match (&self.last, trace_id) {
            (Some(last), Some(new)) => last.as_str() == new,
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return;
        }
        self.last = text.share_xray_trace_id();
        match trace_id {
            Some(value) if PREFIX.len() + value.len() < CAPACITY => self.write_in_place(value),
            other => self.set_or_remove(other),
        }
    }

    fn write_in_place(&mut self, value: &str) {
        let buffer = *self.buffer.get_or_insert_with(|| {
            let mut buffer = Box::new([0_u8; CAPACITY]);
            buffer[..PREFIX.len()].copy_from_slice(PREFIX);
            NonNull::from(Box::leak(buffer)).cast()
        });
        // The environment, once given the buffer, may be read through it at any time, so the
        // buffer is only ever written through this raw pointer, never through a reference.
        #[allow(unsafe_code)]
        // SAFETY: `buffer` points to `CAPACITY` bytes leaked above, never freed. The caller
        // checked that the prefix, the value and a NUL fit. A header value is visible ASCII,
        // so it holds no NUL. The environment is read by other code only between these writes:
        // this loop runs one invocation at a time, writes before the next handler is polled,
        // and the runtime starts no threads of its own (the data race that remains, with a user
        // thread reading the environment while an invocation starts, is `setenv`'s as well).
        unsafe {
            let value_start = buffer.as_ptr().add(PREFIX.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), value_start, value.len());
            value_start.add(value.len()).write(0);
            if !self.in_environ {
                // `putenv` keeps the pointer itself; later writes show through it.
                libc::putenv(buffer.as_ptr().cast::<c_char>());
                self.in_environ = true;
            }
        }
    }

    fn set_or_remove(&mut self, value: Option<&str>) {
        self.in_environ = false;
        #[allow(unsafe_code, clippy::disallowed_methods)]
        // SAFETY: as in `write_in_place`: no handler runs and the runtime has no other threads.
        unsafe {
            match value {
                Some(value) => std::env::set_var(TRACE_ID_VAR, value),
                None => std::env::remove_var(TRACE_ID_VAR),
            }
        }
    }
}
