//! Error types: anyhow, `Box<dyn Error>`, an own error with `From`, an alias.
#![deny(warnings, unused_braces, clippy::pedantic)]

#[derive(Debug)]
enum AppError {
    Guard(interven::Error),
}

impl From<interven::Error> for AppError {
    fn from(e: interven::Error) -> Self {
        AppError::Guard(e)
    }
}

type AppResult<T> = Result<T, AppError>;

#[interven::guard(tool = "a")]
fn with_anyhow(x: u8) -> anyhow::Result<u8> {
    Ok(x)
}

#[interven::guard(tool = "a")]
fn with_box(x: u8) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(x)
}

#[interven::guard(tool = "a")]
fn with_alias(x: u8) -> AppResult<u8> {
    Ok(x)
}

fn main() {
    assert_eq!(with_anyhow(1).unwrap(), 1);
    assert_eq!(with_box(2).unwrap(), 2);
    match with_alias(3) {
        Ok(v) => assert_eq!(v, 3),
        Err(AppError::Guard(e)) => panic!("{e}"),
    }
}
