#[lambda_kit::handler]
struct Handler;

fn main() {}
