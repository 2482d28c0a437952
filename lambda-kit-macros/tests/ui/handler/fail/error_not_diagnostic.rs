use lambda_kit::Context;

#[derive(Debug)]
struct OrderError;

#[lambda_kit::handler]
async fn handler(id: String, _ctx: Context) -> Result<String, OrderError> {
    if id.is_empty() {
        return Err(OrderError);
    }
    Ok(id)
}
