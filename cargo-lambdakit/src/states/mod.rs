//! The Amazon States Language, for state machines whose Task states call Lambda functions:
//! definitions are parsed and checked whole ([`parse`], [`validate`]).
//!
//! What it follows is the service's documentation (the States Language specification and the
//! Step Functions developer guide): where a peer (moto, LocalStack) differs, the documentation
//! wins.

mod choice;
mod definition;
mod intrinsic;
mod path;

pub use choice::Rule;
pub use definition::{
    Branch, Catcher, Invalid, Kind, LAMBDA_INVOKE, MapState, Problem, Resource, Retrier, Seconds,
    State, StateMachine, Template, Text, WaitFor, parse, validate,
};
pub use path::{Context, Path};
