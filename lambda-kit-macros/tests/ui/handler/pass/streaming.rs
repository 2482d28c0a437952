use lambda_kit::Diagnostic;
use lambda_kit::streaming::StreamResponse;
use lambda_kit::testing::invoke;

// A handler that answers with a streamed body, with the `Context` left out.
#[lambda_kit::handler(main = false)]
async fn countdown(from: u32) -> Result<StreamResponse, Diagnostic> {
    if from > 10 {
        return Err(Diagnostic::new("TooLong", "count down from 10 at most"));
    }
    Ok(StreamResponse::from_writer(move |mut body| async move {
        for n in (1..=from).rev() {
            body.write(format!("{n} ")).await;
        }
        body.write("liftoff").await;
        Ok::<_, Diagnostic>(())
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let outcome = invoke(|from, _: lambda_kit::Context| countdown(from), 3).await;
    assert_eq!(outcome.streamed().chunks(), ["3 ", "2 ", "1 ", "liftoff"]);
    let outcome = invoke(|from, _: lambda_kit::Context| countdown(from), 11).await;
    assert_eq!(outcome.error().error_type(), "TooLong");
}
