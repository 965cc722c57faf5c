//! Thin binary: parse the command line, run the library, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

// Forward passes allocate and free large activation buffers per layer; mimalloc keeps them
// mapped instead of returning them to the kernel each time (glibc's malloc spent up to a third of
// the run in page faults on long windows).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
