/**
 * The verb table and help, in-process through main(): every verb loads, has a summary and a usage
 * with its exit codes, and `--help` prints that usage and exits 0.
 */
import test from 'ava';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { commands, type Group, type Loader } from '../../src/cli/commands/index.js';
import type { CommandContext } from '../../src/cli/command.js';

function context(): { ctx: CommandContext; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { ctx: { env: {}, stdout, stderr, selfArgv: [process.execPath, 'splitblk'] }, out: () => out, err: () => err };
}

const verbs: Array<[string[], Loader]> = Object.entries(commands).flatMap(([name, entry]) =>
  typeof entry === 'function'
    ? [[[name], entry] as [string[], Loader]]
    : Object.entries((entry as Group).verbs).map(([sub, loader]) => [[name, sub], loader] as [string[], Loader]));

test('every verb has a summary, a usage naming it, exit codes, and prints it for --help', async (t) => {
  for (const [argv, loader] of verbs) {
    const command = await loader();
    const name = argv.join(' ');
    t.true(command.summary.length > 0, name);
    // A group's default verb may be documented under the group's name (`splitblk bench` = bench all).
    t.true(command.usage.startsWith(`usage: splitblk ${argv[0]}`), `${name}: ${command.usage.split('\n')[0]}`);
    t.regex(command.usage, /Exit codes/i, name);
    const { ctx, out } = context();
    t.is(await main([...argv, '--help'], ctx), 0, name);
    t.is(out().trimEnd(), command.usage.trimEnd(), name);
  }
});

test('help lists every verb; unknown verbs and sub-verbs are usage errors', async (t) => {
  const help = context();
  t.is(await main(['help'], help.ctx), 0);
  for (const name of Object.keys(commands)) t.regex(help.out(), new RegExp(`^  ${name} `, 'm'));
  const unknown = context();
  t.is(await main(['nosuchverb'], unknown.ctx), 2);
  t.is(unknown.err(), "splitblk: unknown verb 'nosuchverb' (try 'splitblk help')\n");
  const sub = context();
  t.is(await main(['domain'], sub.ctx), 2);
  t.regex(sub.err(), /^splitblk domain: missing sub-verb; one of: create, destroy, list\n$/);
});
