//! The native `sss` command: phantoms, training, evaluation, import, export, segmentation.

fn main() -> std::process::ExitCode {
    sss::backend::keep_freed_memory();
    sss::cli::main()
}
