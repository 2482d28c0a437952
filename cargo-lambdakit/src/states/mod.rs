//! An interpreter of the Amazon States Language, for state machines whose Task states call
//! Lambda functions: definitions are parsed and checked whole ([`parse`], [`validate`]), then run
//! ([`run`]) with the function calls going through an [`Invoker`] the caller provides (serve's
//! functions, or a test's), recording the execution's history as `GetExecutionHistory` shapes it.
//!
//! What it follows is the service's documentation (the States Language specification and the
//! Step Functions developer guide): where a peer (moto, LocalStack) differs, the documentation
//! wins.

mod choice;
mod definition;
mod history;
mod intrinsic;
mod path;
mod run;

pub use choice::Rule;
pub use definition::{
    Branch, Catcher, Invalid, Kind, LAMBDA_INVOKE, MapState, Problem, Resource, Retrier, Seconds,
    State, StateMachine, Template, Text, WaitFor, parse, validate,
};
pub use history::{Event, History};
pub use path::{Context, Path};
pub use run::{BoxFuture, Execution, Identity, InvokeError, Invoker, Options, Outcome, Stop, run};
