//! Thin binary: parse the command line, run the library, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

/// mimalloc, but the system allocator for huge blocks ([`cli::alloc`]).
#[global_allocator]
static GLOBAL: cli::alloc::Split = cli::alloc::Split;

fn main() -> ExitCode {
    // AMX tile state is granted only while this thread is the process's only one.
    ner_tag::model::kernels::amx::request();
    let args = cli::parse();
    match cli::run(args) {
        Ok(cli::Outcome::Done) => ExitCode::SUCCESS,
        Ok(cli::Outcome::SomeRecordsFailed) => ExitCode::from(3),
        Ok(cli::Outcome::Interrupted(signal)) => ExitCode::from(128 + signal as u8),
        // The reader went away (`ner-tag … | head`): not an error, as in ripgrep.
        Err(e)
            if e.downcast_ref::<ner_tag::Error>()
                .is_some_and(ner_tag::Error::is_broken_pipe) =>
        {
            ExitCode::SUCCESS
        }
        // A configuration found wrong after parsing (`--max-length` beyond the model, `--device`
        // unknown) is a usage error like the ones clap reports: exit 2.
        Err(e)
            if matches!(
                e.downcast_ref::<ner_tag::Error>(),
                Some(ner_tag::Error::Usage(_))
            ) =>
        {
            eprintln!("ner-tag: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("ner-tag: {e}");
            ExitCode::from(1)
        }
    }
}
