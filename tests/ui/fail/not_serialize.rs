struct Connection;

#[interven::guard(tool = "db")]
fn query(conn: Connection, sql: String) -> interven::Result<()> {
    let _ = (conn, sql);
    Ok(())
}

fn main() {}
