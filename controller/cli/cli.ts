#!/usr/bin/env node
// pagecast: run the controller, validate specs, and talk to a running instance.
import { stat } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSpecDir, loadSpecFile, checkNames, type LoadedSpec, type Diagnostic } from '../../specs/load.js';
import { formatDiagnostic, formatGithub, validateConflicts } from '../../specs/diagnostics.js';
import { castSpecJsonSchema } from '../../specs/json-schema.js';
import { escapeControl } from '../../specs/escape.js';
import { apiCommand } from './api-commands.js';
import { commandHelp, isCommand, isUsageError, mainHelp, parseCommand, usageError, wantsHelp } from './commands.js';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (t: string) => void process.stdout.write(t);
  const err = (t: string) => void process.stderr.write(t);
  if (command === undefined) {
    out(`${mainHelp()}\n`);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) out(`${mainHelp()}\n`);
    else if (isCommand(topic)) out(`${commandHelp(topic)}\n`);
    else {
      err(`pagecast help: unknown command "${escapeControl(topic, { oneLine: true })}"\n\n${mainHelp()}\n`);
      return 2;
    }
    return 0;
  }
  if (!isCommand(command)) {
    err(`pagecast: unknown command "${escapeControl(command, { oneLine: true })}"\n\n${mainHelp()}\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    out(`${commandHelp(command)}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'run':
        return await (await import('./run.js')).runCommand(rest);
      case 'validate':
        return await validateCommand(rest);
      case 'schema':
        parseCommand('schema', rest);
        out(`${JSON.stringify(castSpecJsonSchema(), null, 2)}\n`);
        return 0;
      case 'status':
      case 'suspend':
      case 'resume':
      case 'page':
      case 'cast':
      case 'uncast':
        return await apiCommand(command, rest);
      case 'devices':
        return await (await import('./devices.js')).devicesCommand(rest);
      case 'report':
        return await (await import('./report.js')).reportCommand(rest);
    }
  } catch (e) {
    if (isUsageError(e)) {
      err(`pagecast ${command}: ${escapeControl(e.message)}\n`);
      return 2;
    }
    throw e;
  }
}

async function validateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('validate', args);
  const format = values.format ?? 'text';
  if (positionals.length === 0) throw usageError('name at least one file or directory');
  if (format !== 'text' && format !== 'github') throw usageError('--format must be text or github');
  const diagnostics: Diagnostic[] = [];
  const specs: LoadedSpec[] = [];
  for (const target of positionals) {
    const st = await stat(target).catch(() => undefined);
    if (!st) {
      diagnostics.push({ file: target, line: 1, column: 1, path: '', message: 'no such file or directory', severity: 'error' });
      continue;
    }
    const r = st.isDirectory() ? await loadSpecDir(target, { checkNames: false }) : await loadSpecFile(target);
    // One by one: spreading a large array into a call overflows the stack.
    for (const d of r.diagnostics) diagnostics.push(d);
    for (const x of r.specs) specs.push(x);
  }
  for (const d of [checkNames(specs), validateConflicts(specs)].flat()) diagnostics.push(d);
  const print = format === 'github' ? formatGithub : formatDiagnostic;
  for (const d of diagnostics) process.stdout.write(`${print(d)}\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  if (format === 'text') {
    process.stderr.write(`${specs.length} spec(s) checked: ${errors} error(s), ${warnings} warning(s)\n`);
  }
  return errors > 0 ? 1 : 0;
}

// Run when executed directly (the bin), not when imported by tests.
const invokedAs = process.argv[1] ? realpathSync(resolve(process.argv[1])) : '';
if (import.meta.url === pathToFileURL(invokedAs).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`pagecast: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
