// lily completion bash|zsh|fish: a shell completion script, generated from the commands' own
// option lists (so it never drifts from the CLI). Completes command names, each command's options,
// the values of --backend/--data/--optimizer/--params, and file names.
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import type { Action, Io, Wrapped } from './main.ts';

const SHELLS = ['bash', 'zsh', 'fish'];

/** Values of the options that take one of a few words. */
const VALUES: Record<string, string[]> = {
  '--backend': ['auto', 'cpu', 'webgpu', 'webgl2', 'headlessgl', 'webasm', 'gpujs-cpu', 'reference'],
  '--data': ['teacher', 'fashion-mnist', 'fashion-mnist-full'],
  '--optimizer': ['adamw', 'sgd'],
  '--params': ['init', 'random'],
};

interface Spec {
  name: string;
  description: string;
  options: string[];
}

function specs(program: Command): Spec[] {
  return program.commands.map((c) => ({ name: c.name(), description: c.description(), options: [...c.options.map((o) => o.long!).filter(Boolean), '--help'] }));
}

function bash(cmds: Spec[]): string {
  const cases = cmds.map((c) => `    ${c.name}) opts="${c.options.join(' ')}" ;;`).join('\n');
  const values = Object.entries(VALUES).map(([o, v]) => `    ${o}) COMPREPLY=($(compgen -W "${v.join(' ')}" -- "$cur")); return ;;`).join('\n');
  return `# lily completion for bash: source this file, or add \`source <(lily completion bash)\` to ~/.bashrc
_lily() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${cmds.map((c) => c.name).join(' ')} --help --version" -- "$cur")); return
  fi
  case "$prev" in
${values}
  esac
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -o filenames -F _lily lily
`;
}

function zsh(cmds: Spec[]): string {
  // zsh runs the bash function through bashcompinit: one implementation for both shells.
  return `#compdef lily
# lily completion for zsh: add \`source <(lily completion zsh)\` to ~/.zshrc
autoload -U +X bashcompinit && bashcompinit
${bash(cmds).split('\n').slice(1).join('\n')}`;
}

function fish(cmds: Spec[]): string {
  const lines = ['# lily completion for fish: lily completion fish > ~/.config/fish/completions/lily.fish', 'complete -c lily -f'];
  for (const c of cmds) lines.push(`complete -c lily -n __fish_use_subcommand -a ${c.name} -d ${JSON.stringify(c.description.slice(0, 60))}`);
  for (const c of cmds)
    for (const o of c.options) {
      const values = VALUES[o];
      lines.push(`complete -c lily -n '__fish_seen_subcommand_from ${c.name}' -l ${o.slice(2)}${values ? ` -xa '${values.join(' ')}'` : ''}`);
    }
  lines.push("complete -c lily -n 'not __fish_use_subcommand' -F");
  return `${lines.join('\n')}\n`;
}

export function registerCompletion(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', SHELLS.join(' | '))
    .action(
      wrap(async (shell: string) => {
        if (!SHELLS.includes(shell)) fail('E-usage', `unknown shell '${shell}'`, undefined, { expected: SHELLS.join(', ') });
        // Every other command, registered on a scratch program, to read its options.
        const { buildProgram, COMMAND_NAMES } = await import('./main.ts');
        const all = await buildProgram(io, () => {}, COMMAND_NAMES);
        const cmds = specs(all);
        io.out((shell === 'bash' ? bash : shell === 'zsh' ? zsh : fish)(cmds).trimEnd());
        return 0;
      }),
    );
}
