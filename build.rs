//! Compiles `proto/easemob.proto` with the pure-Rust `protox` compiler (no system `protoc`),
//! for builds with the `easemob` feature.
#[cfg(feature = "easemob")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/easemob.proto");
    let fds = protox::compile(["proto/easemob.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}

#[cfg(not(feature = "easemob"))]
fn main() {}
