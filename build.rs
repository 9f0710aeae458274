//! Generates the C boundary header from src/ffi.rs with cbindgen and checks it
//! against the committed `cpp_shim/awss3.h`: the build fails when they drift.
//! `AWSS3_BLESS_HEADER=1 cargo build` (or `make header`) rewrites the header.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cpp_shim/awss3.h");
    println!("cargo:rerun-if-env-changed=AWSS3_BLESS_HEADER");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let config = cbindgen::Config {
        language: cbindgen::Language::C,
        include_guard: Some("AWSS3_H".into()),
        header: Some(
            "/* The boundary between the C++ handler shim and the Rust core.\n \
             * Generated from src/ffi.rs by cbindgen (build.rs): do not edit. */"
                .into(),
        ),
        cpp_compat: true,
        no_includes: true,
        sys_includes: vec!["stdbool.h".into(), "stddef.h".into(), "stdint.h".into()],
        usize_is_size_t: true,
        documentation: true,
        // Enums carried as int32_t fields and arguments: emit them anyway.
        export: cbindgen::ExportConfig {
            include: [
                "Awss3CellKind",
                "Awss3Role",
                "Awss3Attr",
                "Awss3Format",
                "Awss3Bound",
                "Awss3ReadBy",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi.rs")
        .write(&mut out);
    let header = dir.join("cpp_shim/awss3.h");
    let committed = std::fs::read(&header).unwrap_or_default();
    if committed != out {
        if std::env::var("AWSS3_BLESS_HEADER").as_deref() == Ok("1") {
            std::fs::write(&header, &out).expect("cannot write cpp_shim/awss3.h");
        } else {
            panic!(
                "cpp_shim/awss3.h differs from what src/ffi.rs generates; \
                 run `make header` and commit the result"
            );
        }
    }
}
