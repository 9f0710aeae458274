//! AWSS3: the Rust core of a MariaDB storage engine that keeps one S3 object
//! per row. The C++ handler shim (`cpp_shim/`) calls only `ffi`; nothing here
//! knows MariaDB's types or calls into the server.

pub mod alter;
pub mod batch;
pub mod budget;
pub mod call;
pub mod catalog;
#[cfg(test)]
mod conformance;
pub mod ddl;
pub mod discovery;
pub mod error;
pub mod estimate;
pub mod fence;
pub mod ffi;
pub mod insert;
pub mod keycodec;
pub mod keyrange;
pub mod listing;
pub mod location;
pub mod lookups;
#[cfg(test)]
mod memstore;
pub mod metrics;
pub mod progress;
pub mod rowcache;
pub mod rowcodec;
pub mod runtime;
pub mod s3client;
pub mod scan;
pub mod schema;
pub mod settings;
pub mod stats;
pub mod store;
pub mod table;
pub mod window;
pub mod write;
