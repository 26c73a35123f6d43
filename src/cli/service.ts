import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { projectRoot } from '../project-root.ts'
import type { Command } from './command.ts'
import { UsageError } from './io.ts'
import { lookupUser } from '../engine/host/isolation.ts'
import { envFileText, panelUnits, type UnitFile } from '../systemd-units.ts'

const projectDir = projectRoot

type Layout = Parameters<typeof panelUnits>[1]

function layoutOf(opts: Record<string, unknown>): Layout {
  if (opts['runner-only'] && opts['separate-runner'])
    throw new UsageError('--runner-only and --separate-runner do not go together')
  if (opts['runner-only'] && opts.user)
    throw new UsageError('--user is for the web part; --runner-only runs the runner as root')
  return opts['runner-only'] ? 'runner-only' : opts['separate-runner'] ? 'separate' : 'serve'
}

/** Writes a file, saying why it failed in words an admin acts on (usually: not root). */
function write(path: string, text: string, mode: number): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
    writeFileSync(path, text, { mode })
    chmodSync(path, mode)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM')
      throw new Error(`cannot write ${path}: run it as root (sudo npx panel service install)`)
    throw err
  }
}

function nextSteps(units: UnitFile[], user: string | null, dataDir: string): string[] {
  const names = units.map((u) => u.name.replace(/\.service$/, '')).join(' ')
  const lines = ['', 'Next:']
  if (user) lines.push(`  chown -R ${user}: ${dataDir}`)
  lines.push(`  systemctl daemon-reload && systemctl enable --now ${names}`)
  lines.push(`  systemctl status ${names}   # logs: journalctl -u ${units[0]!.name} -f`)
  if (units.some((u) => u.name === 'panel.service'))
    lines.push('  curl -fsS http://127.0.0.1:3000/healthz   # the port in the env file, if changed')
  return lines
}

export const serviceCommands: Record<string, Command> = {
  'service install': {
    usage:
      'service install [--runner-only | --separate-runner] [--user <name>] [--prefix <dir>] [--settings-file <path>] [--dry-run]',
    options: {
      'runner-only': { type: 'boolean' },
      'separate-runner': { type: 'boolean' },
      user: { type: 'string' },
      prefix: { type: 'string' },
      'settings-file': { type: 'string' },
      'dry-run': { type: 'boolean' },
    },
    run({ config }, args, opts) {
      if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`)
      const layout = layoutOf(opts)
      const user = (opts.user as string | undefined) ?? null
      if (user !== null && (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user) || user === 'root'))
        throw new UsageError('--user must name an ordinary system user, e.g. panel')
      if (user && !lookupUser(user))
        throw new Error(
          `the user “${user}” does not exist: create it first (useradd --system --home-dir ${config.dataDir} --shell /usr/sbin/nologin ${user})`,
        )
      const prefix = resolve((opts.prefix as string | undefined) ?? '/etc/systemd/system')
      const envFile = resolve((opts['settings-file'] as string | undefined) ?? '/etc/panel/env')
      const units = panelUnits(
        { node: process.execPath, projectDir, dataDir: config.dataDir, envFile, user },
        layout,
      )
      if (opts['dry-run']) {
        for (const u of units) console.log(`# ${join(prefix, u.name)}\n${u.text}`)
        if (!existsSync(envFile)) console.log(`# ${envFile} (mode 0600)\n${envFileText()}`)
        return
      }
      for (const u of units) {
        write(join(prefix, u.name), u.text, 0o644)
        console.log(`Wrote ${join(prefix, u.name)}`)
      }
      if (existsSync(envFile)) {
        console.log(`Kept ${envFile} as it is (settings: PORT, HOST, PANEL_BASE_URL, SMTP_*…)`)
      } else {
        write(envFile, envFileText(), 0o600)
        console.log(`Wrote ${envFile} (mode 0600; commented examples: PORT, HOST, SMTP_*…)`)
      }
      if (user)
        console.log(
          `panel.service runs as ${user} without the runner; panel-runner.service runs as root so backups can act as each tenant.`,
        )
      console.log(nextSteps(units, user, config.dataDir).join('\n'))
    },
  },
}
