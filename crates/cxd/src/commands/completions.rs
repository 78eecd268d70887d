//! `cxd completions`: a shell completion script, generated from the command line's definition.

use std::process::ExitCode;

use clap::{Args, CommandFactory as _, ValueEnum};

use crate::cli::Cli;

/// `cxd completions`
#[derive(Debug, Args)]
#[command(after_help = "Install, for example:\n  \
bash: cxd completions bash > ~/.local/share/bash-completion/completions/cxd\n  \
zsh:  cxd completions zsh > ~/.zfunc/_cxd   (with fpath+=~/.zfunc before compinit)\n  \
fish: cxd completions fish > ~/.config/fish/completions/cxd.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells cxd writes completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// The friendly interactive shell.
    Fish,
}

/// Print the completion script for `args.shell` on stdout.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    print!("{}", script(args.shell));
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cxd", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_knows_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            assert!(s.contains("watch") && s.contains("review"), "{shell:?}");
        }
    }
}
