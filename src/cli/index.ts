import { parseArgs } from 'node:util'
import { loadConfig } from '../config.ts'
import { openDatabase, type Db } from '../db/client.ts'
import { closePostgres } from '../db/dialect.ts'
import { panelOrigin } from '../db/panel-url.ts'
import { drivers } from '../drivers/registry.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { UsageError } from './io.ts'
import { nodeProblem } from '../names.ts'
import type { Command } from './command.ts'
import { adminCommands } from './admin.ts'
import { tenantCommands } from './tenants.ts'
import { destinationCommands } from './destinations.ts'
import { policyCommands } from './policies.ts'
import { backupCommands } from './backups.ts'
import { tokenCommands } from './tokens.ts'
import { recoveryCommands } from './recovery.ts'
import { selfBackupCommands } from './self-backup.ts'
import { serviceCommands } from './service.ts'

const commands: Record<string, Command> = {
  ...adminCommands,
  ...tenantCommands,
  ...destinationCommands,
  ...policyCommands,
  ...backupCommands,
  ...tokenCommands,
  ...selfBackupCommands,
  ...serviceCommands,
  // After backupCommands: its recovery-kit verb grew rotation and escrow here.
  ...recoveryCommands,
}

const RUNNER_USAGE = 'runner [--node <node>]'

/** `--help` or `-h` anywhere among a command's arguments. */
const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h')

function usage(): string {
  return [
    'Usage: panel <command>',
    '',
    '  serve',
    `  ${RUNNER_USAGE}`,
    ...Object.values(commands).map((c) => `  ${c.usage}`),
  ].join('\n')
}

/** Runs one CLI invocation; returns the exit status. Errors print as one line on stderr. */
export async function runCli(argv: string[]): Promise<number> {
  const [first = 'help', second = ''] = argv
  if (first === 'serve' || first === 'runner') {
    const { startServer, startRunnerOnly } = await import('../serve.ts')
    let node: string | undefined
    if (wantsHelp(argv)) {
      console.log(`Usage: panel ${first === 'serve' ? 'serve' : RUNNER_USAGE}`)
      return 0
    }
    if (first === 'runner') {
      try {
        const args = argv.slice(1)
        node = parseArgs({ args, options: { node: { type: 'string' } }, strict: true }).values.node
        const problem = node === undefined ? undefined : nodeProblem(node)
        if (problem) throw new UsageError(`--node: ${problem}`)
      } catch (err) {
        console.error(
          `panel: ${(err as Error).message.split('\n')[0]} (usage: panel ${RUNNER_USAGE})`,
        )
        return 2
      }
    }
    try {
      await (first === 'serve' ? startServer() : startRunnerOnly({ node }))
    } catch (err) {
      // A bad setting or an unreachable database: one line and a failed exit, not a process
      // that says it is serving while nothing is.
      console.error(`panel: could not start: ${(err as Error).message.split('\n')[0]}`)
      return 1
    }
    return 0
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    console.log(usage())
    return 0
  }
  const key = commands[`${first} ${second}`] ? `${first} ${second}` : first
  const command = commands[key]
  if (!command) {
    console.error(`panel: unknown command "${argv.slice(0, 2).join(' ')}". Run "panel help".`)
    return 2
  }
  const rest = argv.slice(key.split(' ').length)
  if (wantsHelp(rest)) {
    console.log(`Usage: panel ${command.usage}`)
    return 0
  }
  let db: Db | undefined
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: command.options,
      allowPositionals: true,
      strict: true,
    })
    const config = loadConfig()
    db = await openDatabase(config)
    const baseUrl = await panelOrigin(db, config)
    await command.run(
      { db, secretKey: config.secretKey, drivers, baseUrl, config },
      positionals,
      values,
    )
    return 0
  } catch (err) {
    return report(err, command)
  } finally {
    // PostgreSQL's pool would keep the process alive; SQLite needs nothing.
    if (db) await closePostgres(db)
  }
}

function report(err: unknown, command: Command): number {
  if (err instanceof InputError) {
    const fields = Object.entries(err.errors).map(([field, msg]) => `${field}: ${msg}`)
    console.error(`panel: ${fields.join('; ')}`)
    return 1
  }
  if (err instanceof NotFoundError || err instanceof ConflictError) {
    console.error(`panel: ${err.message}`)
    return 1
  }
  const code = (err as { code?: string }).code
  if (
    err instanceof UsageError ||
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
  ) {
    console.error(`panel: ${(err as Error).message.split('\n')[0]} (usage: panel ${command.usage})`)
    return 2
  }
  console.error(`panel: ${(err as Error).message?.split('\n')[0] ?? String(err)}`)
  return 1
}
