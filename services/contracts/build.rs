//! Compiles every `.proto` under the workspace's `proto/` with protox (no system
//! `protoc`), generates the tonic clients and servers with the module tree of
//! their packages (`socialloans.rs`), and writes the encoded descriptor set
//! that server reflection serves.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let mut files = Vec::new();
    collect_protos(&proto_root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("descriptor_set.bin"), fds.encode_to_vec())?;
    std::fs::write(out_dir.join("mutations.rs"), mutations(&fds))?;

    // Type names let an event be packed into `google.protobuf.Any` by its own
    // fully-qualified name (`prost::Name`).
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    // The applications service's two read answers are written by hand, so
    // that a server can splice in an application's stored encoding
    // (src/spliced.rs); the wire form is the contract's.
    for message in ["GetApplicationResponse", "ListApplicationsResponse"] {
        config.extern_path(format!(".socialloans.applications.v1.{message}"), format!("crate::spliced::{message}"));
    }
    tonic_prost_build::configure()
        // Every method of a contract must be implemented: a forgotten one is
        // a compile error, not an UNIMPLEMENTED answer found in production.
        .generate_default_stubs(false)
        // One module per package, nested as the package's name is: a new
        // package needs no hand-written module.
        .include_file("socialloans.rs")
        .compile_fds_with_config(fds, config)?;
    Ok(())
}

/// `impl Mutation` for every request message that carries a `request_id`:
/// the requests of the methods that change something.
fn mutations(fds: &prost_types::FileDescriptorSet) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for file in &fds.file {
        let module = file.package().replace('.', "::");
        for message in &file.message_type {
            let keyed = message.field.iter().any(|f| f.name() == "request_id");
            if message.name().ends_with("Request") && keyed {
                let name = message.name();
                let _ = writeln!(
                    out,
                    "impl crate::Mutation for crate::{module}::{name} {{ \
                     fn request_id(&self) -> &str {{ &self.request_id }} }}"
                );
            }
        }
    }
    out
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
