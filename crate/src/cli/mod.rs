//! The native command line: one file per subcommand, each with its clap `Args` and a `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::ComputeDevice;

pub mod bench;
pub mod bench_train;
pub mod eval;
pub mod export;
pub mod import_sam2;
pub mod phantom;
pub mod pretrain;
pub mod recipe_args;
pub mod segment;
pub mod sss_data;
pub mod sss_weights;
pub mod to_dicom;
pub mod train;
pub mod train_args;
pub mod train_slice_net;

/// The compute device.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    /// The flex CPU backend (the only one with bilinear interpolation backward).
    Flex,
    /// wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

impl DeviceArg {
    pub fn open(self) -> crate::Result<ComputeDevice> {
        match self {
            Self::Flex => Ok(ComputeDevice::flex()),
            Self::Wgpu => ComputeDevice::wgpu(),
        }
    }
}

/// SSS: semi-supervised SAM-2 for medical image segmentation.
#[derive(Parser, Debug)]
#[command(name = "sss", version, about, long_about = None)]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a seeded phantom dataset in ACDC's (cardiac) or BHSD's (brain CT) layout.
    Phantom(phantom::PhantomArgs),
    /// Train the slice network on cardiac phantoms and export page weights.
    TrainSliceNet(train_slice_net::TrainSliceNetArgs),
    /// Convert an official SAM-2 / SAM-2.1 checkpoint to the project's weights.
    ImportSam2(import_sam2::Args),
    /// Time the SAM-2 stages per slice on the CPU (flex).
    Bench(bench::Args),
    /// Promptable pretraining of SAM-2 on procedural 3-D scenes: foundation weights for
    /// `sss train --init`.
    Pretrain(Box<pretrain::PretrainArgs>),
    /// Train SSS (SAM-2 + coarse head, DFE, PCSW, EMA teacher) on an ACDC/BHSD-layout dataset.
    Train(Box<train::TrainArgs>),
    /// Dice, Jaccard, HD95 and ASD of SSS weights on a dataset's test or validation volumes.
    Eval(eval::EvalArgs),
    /// Segment one scan with SSS weights: a label map in its geometry and the prompts.
    Segment(segment::SegmentArgs),
    /// Write a NIfTI scan as a DICOM series (one file per slice).
    ToDicom(to_dicom::ToDicomArgs),
    /// Export a run's network as page weights (f16 burnpack + manifest).
    Export(export::ExportArgs),
}

/// Parses the arguments, runs the subcommand and turns its error into a message and exit code.
/// The command line as a user would type it, for manifests' provenance: `sss` and the
/// arguments, without the path the binary ran from (a build directory means nothing to a
/// reader of published weights).
pub fn command_line() -> String {
    std::iter::once("sss".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn main() -> ExitCode {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // Subcommands open their devices explicitly; the one place burn picks its default
        // device itself (optimiser state loaded on `--resume`) should not start a GPU
        // adapter. SAFETY: at start-up, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Phantom(args) => phantom::run(&args),
        Command::TrainSliceNet(args) => train_slice_net::run(&args),
        Command::ImportSam2(args) => import_sam2::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Pretrain(args) => pretrain::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Segment(args) => segment::run(&args),
        Command::ToDicom(args) => to_dicom::run(&args),
        Command::Export(args) => export::run(&args),
    }
}
