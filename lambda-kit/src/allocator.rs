//! The `talc` feature: on musl, talc as the program's global allocator.
//!
//! A static build on musl has no loader to run at start, which is most of a small function's
//! init; musl's own allocator is small and careful rather than quick. talc, a pure-Rust
//! allocator, takes its place here: it serves allocations from 1 MiB blocks that it asks musl's
//! `malloc` for (which maps them with `mmap`), and gives a block back when it is empty again.
//! BENCHMARKS.md ("Static or glibc") has what each choice costs.
//!
//! A static `cargo lambdakit build` turns this feature on for every package on lambda-kit. Only
//! one global allocator may exist in a program: a function that sets its own leaves this feature
//! off (`cargo lambdakit build --allocator system`). The lock is a spin lock: a Lambda function allocates from the one thread that
//! runs its handler, with other threads (a blocking pool) allocating rarely, so the lock is
//! almost never contended.

use std::alloc::System;

use talc::TalcLock;
use talc::source::GlobalAllocSource;

#[global_allocator]
static ALLOCATOR: TalcLock<spin::mutex::SpinMutex<()>, GlobalAllocSource<System>> =
    TalcLock::new(GlobalAllocSource::new(System));
